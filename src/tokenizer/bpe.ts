/**
 * SentencePiece's BPE segmentation of one normalized string (bpe_model.cc): start from single
 * characters (user-defined pieces stay whole and never merge), repeatedly merge the adjacent pair
 * whose concatenation is a piece with the highest score (ties: the leftmost), then resolve each
 * symbol to an id, splitting UNUSED pieces back into their parts and unknown symbols into byte
 * pieces when the model has byte fallback.
 *
 * Pairs of known pieces are looked up by id in a table built once from the vocabulary (every
 * piece split at every character boundary where both halves are pieces), so the loop makes no
 * strings; only a symbol that is not itself a piece falls back to a lookup by text.
 */
import { PieceType } from './model.ts';
import { codeUnits, type PrefixMatcher } from './prefix_matcher.ts';
import type { Vocabulary } from './vocabulary.ts';

const encoder = new TextEncoder();
const SPACE_CODE = 0x2581;
/** Words kept before the cache starts over (about 10 MB of short words). */
const WORD_CACHE_LIMIT = 100_000;

/** Growable scratch arrays reused across calls (one encoder is used by one thread). */
class Scratch {
  // symbols: [n]
  nid = new Int32Array(256);
  start = new Int32Array(256);
  len = new Int32Array(256);
  prev = new Int32Array(256);
  next = new Int32Array(256);
  frozen = new Uint8Array(256);
  // candidate merges, a binary heap: [m]
  score = new Float64Array(512);
  left = new Int32Array(512);
  right = new Int32Array(512);
  merged = new Int32Array(512);
  size = new Int32Array(512);

  reserve(symbols: number): void {
    if (symbols > this.nid.length) {
      const n = Math.max(symbols, this.nid.length * 2);
      this.nid = new Int32Array(n); this.start = new Int32Array(n); this.len = new Int32Array(n);
      this.prev = new Int32Array(n); this.next = new Int32Array(n); this.frozen = new Uint8Array(n);
    }
    const pairs = 3 * symbols;
    if (pairs > this.score.length) {
      const n = Math.max(pairs, this.score.length * 2);
      this.score = new Float64Array(n); this.left = new Int32Array(n); this.right = new Int32Array(n);
      this.merged = new Int32Array(n); this.size = new Int32Array(n);
    }
  }
}

/** BPE segmentation over one vocabulary. */
export class BpeSegmenter {
  /** normal id of each single-UTF-16-unit piece, -1 where there is none */
  private readonly unitId = new Int32Array(65536).fill(-1);
  /** (left id · size + right id) → id of the concatenation */
  private readonly pairs = new Map<number, number>();
  /** normal ids whose text is also a reserved piece, which `PieceToId` would prefer */
  private readonly shadowed = new Set<number>();
  private readonly hasUnused: boolean;
  private readonly s = new Scratch();
  /** UNUSED piece id → the two symbols its latest merge joined (SentencePiece's rev_merge) */
  private readonly revMerge = new Map<number, [string, string]>();
  /** word → ids, when the vocabulary allows cutting text into words (see `encode`) */
  private readonly wordCache: Map<string, number[]> | null;

  constructor(private readonly vocab: Vocabulary, private readonly userDefined: PrefixMatcher | null, private readonly byteFallback: boolean) {
    const size = vocab.size;
    for (const [piece, id] of vocab.normalPieces()) {
      if (piece.length === 1) this.unitId[piece.charCodeAt(0)] = id;
      if (vocab.isReserved(piece)) this.shadowed.add(id);
      for (let k = 1; k < piece.length; k++) {
        if (isLowSurrogate(piece.charCodeAt(k))) continue;
        const a = vocab.normalId(piece.slice(0, k));
        if (a < 0) continue;
        const b = vocab.normalId(piece.slice(k));
        if (b >= 0) this.pairs.set(a * size + b, id);
      }
    }
    this.hasUnused = vocab.types.includes(PieceType.Unused);
    let wordSafe = true;
    for (const [piece] of vocab.normalPieces()) {
      if (/[^\u2581]\u2581/.test(piece)) { wordSafe = false; break; }
    }
    this.wordCache = wordSafe ? new Map() : null;
  }

  /**
   * Appends the ids of a normalized string to `out`. When no piece has a `▁` right after another
   * character, no merge can cross the start of a `▁` run, so the text is cut there into words
   * whose ids are cached: each word's merges are the same alone as inside the whole text.
   */
  encode(text: string, out: number[]): void {
    if (!this.wordCache) {
      this.encodeWord(text, out);
      return;
    }
    let start = 0;
    for (let i = 1; i <= text.length; i++) {
      if (i < text.length && !(text.charCodeAt(i) === SPACE_CODE && text.charCodeAt(i - 1) !== SPACE_CODE)) continue;
      const word = text.slice(start, i);
      let ids = this.wordCache.get(word);
      if (!ids) {
        ids = [];
        this.encodeWord(word, ids);
        if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
        this.wordCache.set(word, ids);
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]);
      start = i;
    }
  }

  /** Appends the ids of one word (or of a whole text) by running the merges. */
  private encodeWord(text: string, out: number[]): void {
    const n = this.split(text);
    if (n === 0) return;
    const s = this.s;
    const { nid, len, prev, next } = s;
    let heap = 0;
    for (let k = 0; k + 1 < n; k++) heap = this.consider(text, k, k + 1, heap);
    while (heap > 0) {
      const l = s.left[0], r = s.right[0], id = s.merged[0], size = s.size[0];
      heap = this.pop(heap);
      if (len[l] === 0 || len[r] === 0 || len[l] + len[r] !== size) continue; // a stale candidate
      len[l] = size;
      nid[l] = id;
      len[r] = 0;
      const after = next[r];
      next[l] = after;
      if (after >= 0) prev[after] = l;
      if (prev[l] >= 0) heap = this.consider(text, prev[l], l, heap);
      if (after >= 0) heap = this.consider(text, l, after, heap);
    }
    for (let k = 0; k !== -1; k = next[k]) this.emit(text, k, out);
  }

  /** Splits text into symbols (characters, or whole user-defined pieces); returns their count. */
  private split(text: string): number {
    const s = this.s;
    s.reserve(text.length);
    const units = this.userDefined ? codeUnits(text) : null;
    let n = 0;
    for (let i = 0; i < text.length; n++) {
      const c = text.charCodeAt(i);
      let width = isHighSurrogate(c) && i + 1 < text.length && isLowSurrogate(text.charCodeAt(i + 1)) ? 2 : 1;
      let frozen = 0;
      if (units) {
        const m = this.userDefined!.match(units, i);
        if (m > 0) { width = m; frozen = 1; }
      }
      s.nid[n] = width === 1 && !frozen ? this.unitId[c] : this.vocab.normalId(text.substr(i, width));
      s.start[n] = i;
      s.len[n] = width;
      s.frozen[n] = frozen;
      s.prev[n] = n - 1;
      s.next[n] = n + 1;
      i += width;
    }
    if (n > 0) s.next[n - 1] = -1;
    return n;
  }

  /** Pushes the merge of adjacent symbols l and r if their concatenation is a piece. */
  private consider(text: string, l: number, r: number, heap: number): number {
    const s = this.s;
    if (s.frozen[l] || s.frozen[r]) return heap;
    const a = s.nid[l], b = s.nid[r];
    const id = a >= 0 && b >= 0
      ? this.pairs.get(a * this.vocab.size + b) ?? -1
      : this.vocab.normalId(text.substr(s.start[l], s.len[l] + s.len[r]));
    if (id < 0) return heap;
    if (this.hasUnused && this.vocab.types[id] === PieceType.Unused) {
      this.revMerge.set(id, [text.substr(s.start[l], s.len[l]), text.substr(s.start[r], s.len[r])]);
    }
    return this.push(heap, this.vocab.scores[id], l, r, id, s.len[l] + s.len[r]);
  }

  /** Whether heap entry i comes out before entry j: higher score, then leftmost. */
  private before(i: number, j: number): boolean {
    const s = this.s;
    return s.score[i] > s.score[j] || (s.score[i] === s.score[j] && s.left[i] < s.left[j]);
  }

  private swap(i: number, j: number): void {
    const s = this.s;
    let t: number;
    t = s.score[i]; s.score[i] = s.score[j]; s.score[j] = t;
    t = s.left[i]; s.left[i] = s.left[j]; s.left[j] = t;
    t = s.right[i]; s.right[i] = s.right[j]; s.right[j] = t;
    t = s.merged[i]; s.merged[i] = s.merged[j]; s.merged[j] = t;
    t = s.size[i]; s.size[i] = s.size[j]; s.size[j] = t;
  }

  private push(heap: number, score: number, l: number, r: number, id: number, size: number): number {
    const s = this.s;
    if (heap === s.score.length) this.growHeap();
    s.score[heap] = score; s.left[heap] = l; s.right[heap] = r; s.merged[heap] = id; s.size[heap] = size;
    let i = heap;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
    return heap + 1;
  }

  /** Removes the top entry; returns the new heap size. */
  private pop(heap: number): number {
    const last = heap - 1;
    if (last > 0) this.swap(0, last);
    let i = 0;
    for (;;) {
      const a = 2 * i + 1, b = a + 1;
      let best = i;
      if (a < last && this.before(a, best)) best = a;
      if (b < last && this.before(b, best)) best = b;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return last;
  }

  private growHeap(): void {
    const s = this.s, n = s.score.length * 2;
    const grow = <T extends Float64Array | Int32Array>(a: T, make: (n: number) => T): T => { const b = make(n); b.set(a); return b; };
    s.score = grow(s.score, (k) => new Float64Array(k));
    s.left = grow(s.left, (k) => new Int32Array(k));
    s.right = grow(s.right, (k) => new Int32Array(k));
    s.merged = grow(s.merged, (k) => new Int32Array(k));
    s.size = grow(s.size, (k) => new Int32Array(k));
  }

  /** Resolves symbol k to ids: PieceToId, UNUSED pieces split again, unknowns to bytes. */
  private emit(text: string, k: number, out: number[]): void {
    const s = this.s;
    const id = s.nid[k];
    if (id >= 0 && !this.shadowed.has(id) && this.vocab.types[id] !== PieceType.Unused) {
      out.push(id);
      return;
    }
    this.emitPiece(text.substr(s.start[k], s.len[k]), out);
  }

  private emitPiece(piece: string, out: number[]): void {
    const vocab = this.vocab;
    const id = vocab.pieceToId(piece);
    if (vocab.types[id] === PieceType.Unused) {
      const parts = this.revMerge.get(id);
      if (parts) {
        this.emitPiece(parts[0], out);
        this.emitPiece(parts[1], out);
        return;
      }
    }
    if (id === vocab.unkId && this.byteFallback) {
      for (const byte of encoder.encode(piece)) out.push(vocab.byteIds[byte]);
      return;
    }
    out.push(id);
  }
}

function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}
