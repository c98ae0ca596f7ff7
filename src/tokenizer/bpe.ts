/**
 * SentencePiece's BPE segmentation of one normalized string (bpe_model.cc): start from single
 * characters (user-defined pieces stay whole and never merge), repeatedly merge the adjacent pair
 * whose concatenation is a piece with the highest score (ties: the leftmost), then resolve each
 * symbol to an id, splitting UNUSED pieces back into their parts and unknown symbols into byte
 * pieces when the model has byte fallback.
 *
 * Speed comes from three things. Pairs of known pieces are looked up by id in a table built once
 * from the vocabulary (every piece split at every character boundary where both halves are
 * pieces), so merging makes no strings. Text is cut into words where no piece can span the cut,
 * and each word's ids are cached. Short words merge by scanning their few candidate pairs; long
 * ones use a heap, as SentencePiece does.
 */
import { PieceType } from './model.ts';
import { PairTable } from './pair_table.ts';
import { codeUnits, type PrefixMatcher } from './prefix_matcher.ts';
import type { Vocabulary } from './vocabulary.ts';

const encoder = new TextEncoder();
const SPACE_CODE = 0x2581;
/** Words kept before the cache starts over (about 10 MB of short words), and the longest one kept. */
const WORD_CACHE_LIMIT = 100_000;
const WORD_CACHE_LONGEST = 256;
/** Symbols up to which a word merges by scanning instead of through a heap. */
const SCAN_LIMIT = 32;

/** Growable scratch arrays reused across calls (one segmenter serves one thread). */
class Scratch {
  // symbols [n]: normal id (-1 if the text is not a piece), start and length in the text, frozen
  nid = new Int32Array(256);
  start = new Int32Array(256);
  len = new Int32Array(256);
  frozen = new Uint8Array(256);
  // scan: merge id of symbols k and k+1, or -1 [n]; heap: neighbours [n]
  pair = new Int32Array(256);
  prev = new Int32Array(256);
  next = new Int32Array(256);
  // heap of candidate merges [3n]: score, left and right symbol, merged id, merged length
  score = new Float64Array(768);
  left = new Int32Array(768);
  right = new Int32Array(768);
  merged = new Int32Array(768);
  size = new Int32Array(768);

  reserve(symbols: number): void {
    if (symbols <= this.nid.length) return;
    const n = Math.max(symbols, this.nid.length * 2);
    this.nid = new Int32Array(n);
    this.start = new Int32Array(n);
    this.len = new Int32Array(n);
    this.frozen = new Uint8Array(n);
    this.pair = new Int32Array(n);
    this.prev = new Int32Array(n);
    this.next = new Int32Array(n);
    this.score = new Float64Array(3 * n);
    this.left = new Int32Array(3 * n);
    this.right = new Int32Array(3 * n);
    this.merged = new Int32Array(3 * n);
    this.size = new Int32Array(3 * n);
  }
}

/** BPE segmentation over one vocabulary. */
export class BpeSegmenter {
  /** normal id of each single-UTF-16-unit piece, -1 where there is none */
  private readonly unitId = new Int32Array(65536).fill(-1);
  /** 1 for code units that occur in a piece of two or more units (and for surrogates): only those can join a neighbour */
  private readonly joins = new Uint8Array(65536);
  /** (left id, right id) → id of the concatenation */
  private readonly pairs: PairTable;
  /** normal ids whose text is also a reserved piece, which `PieceToId` would prefer */
  private readonly shadowed = new Set<number>();
  private readonly hasUnused: boolean;
  /** no piece has `▁` right after another character, so text can be cut before each `▁` run */
  private readonly cutBeforeSpace: boolean;
  private readonly s = new Scratch();
  /** UNUSED piece id → the two symbols its latest merge joined (SentencePiece's rev_merge) */
  private readonly revMerge = new Map<number, [string, string]>();
  private readonly wordCache = new Map<string, number[]>();

  constructor(
    private readonly vocab: Vocabulary,
    private readonly userDefined: PrefixMatcher | null,
    private readonly byteFallback: boolean,
  ) {
    let cutBeforeSpace = true;
    this.joins.fill(1, 0xd800, 0xe000);
    for (const [piece, id] of vocab.normalPieces()) {
      if (piece.length === 1) this.unitId[piece.charCodeAt(0)] = id;
      else for (let k = 0; k < piece.length; k++) this.joins[piece.charCodeAt(k)] = 1;
      if (vocab.isReserved(piece)) this.shadowed.add(id);
      if (cutBeforeSpace && piece.length > 1 && /[^\u2581]\u2581/.test(piece)) cutBeforeSpace = false;
    }
    this.cutBeforeSpace = cutBeforeSpace;
    const pairs: number[] = []; // [left, right, merged] per pair
    const part = (text: string) => (text.length === 1 ? this.unitId[text.charCodeAt(0)] : vocab.normalId(text));
    for (const [piece, id] of vocab.normalPieces()) {
      for (let k = 1; k < piece.length; k++) {
        if (isLowSurrogate(piece.charCodeAt(k))) continue;
        const a = part(piece.slice(0, k));
        if (a < 0) continue;
        const b = part(piece.slice(k));
        if (b >= 0) pairs.push(a, b, id);
      }
    }
    this.pairs = new PairTable(pairs);
    this.hasUnused = vocab.types.includes(PieceType.Unused);
  }

  /**
   * Appends the ids of a normalized string to `out`. The text is cut into words next to every
   * code unit that no longer piece contains, and before every `▁` run where the vocabulary
   * allows it; no merge can cross such a cut, so each word merges alone exactly as it would
   * inside the whole text, and its ids are cached.
   */
  encode(text: string, out: number[]): void {
    const joins = this.joins,
      cutBeforeSpace = this.cutBeforeSpace;
    let start = 0;
    for (let i = 1; i <= text.length; i++) {
      if (i < text.length) {
        const c = text.charCodeAt(i),
          p = text.charCodeAt(i - 1);
        if (joins[c] && joins[p] && !(cutBeforeSpace && c === SPACE_CODE && p !== SPACE_CODE)) continue;
      }
      const word = start === 0 && i === text.length ? text : text.slice(start, i);
      let ids = this.wordCache.get(word);
      if (!ids) {
        ids = [];
        this.encodeWord(word, ids);
        if (word.length <= WORD_CACHE_LONGEST) {
          if (this.wordCache.size >= WORD_CACHE_LIMIT) this.wordCache.clear();
          this.wordCache.set(word, ids);
        }
      }
      for (let k = 0; k < ids.length; k++) out.push(ids[k]);
      start = i;
    }
  }

  /** Appends the ids of one word by running the merges. */
  private encodeWord(text: string, out: number[]): void {
    const n = this.split(text);
    const s = this.s;
    if (n <= SCAN_LIMIT) {
      const m = this.mergeByScan(text, n);
      for (let k = 0; k < m; k++) this.emit(text, s.start[k], s.len[k], s.nid[k], out);
    } else {
      this.mergeByHeap(text, n);
      for (let k = 0; k !== -1; k = s.next[k]) this.emit(text, s.start[k], s.len[k], s.nid[k], out);
    }
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
        if (m > 0) {
          width = m;
          frozen = 1;
        }
      }
      s.nid[n] = width === 1 && !frozen ? this.unitId[c] : this.vocab.normalId(text.substr(i, width));
      s.start[n] = i;
      s.len[n] = width;
      s.frozen[n] = frozen;
      i += width;
    }
    return n;
  }

  /** The id of the piece that joins symbols l and r, or -1 (recording UNUSED merges for emit). */
  private pairId(text: string, l: number, r: number): number {
    const s = this.s;
    if (s.frozen[l] || s.frozen[r]) return -1;
    const a = s.nid[l],
      b = s.nid[r];
    let id: number;
    if (a >= 0 && b >= 0) {
      id = this.pairs.get(a, b);
    } else {
      if (
        (s.len[l] === 1 && !this.joins[text.charCodeAt(s.start[l])]) ||
        (s.len[r] === 1 && !this.joins[text.charCodeAt(s.start[r])])
      )
        return -1;
      id = this.vocab.normalId(text.substr(s.start[l], s.len[l] + s.len[r]));
    }
    if (id >= 0 && this.hasUnused && this.vocab.types[id] === PieceType.Unused) {
      this.revMerge.set(id, [text.substr(s.start[l], s.len[l]), text.substr(s.start[r], s.len[r])]);
    }
    return id;
  }

  /** Merges symbols [0, n) in place, keeping them contiguous; returns how many remain. */
  private mergeByScan(text: string, n: number): number {
    const s = this.s,
      scores = this.vocab.scores;
    const { nid, start, len, frozen, pair } = s;
    for (let k = 0; k + 1 < n; k++) pair[k] = this.pairId(text, k, k + 1);
    for (;;) {
      let best = -1,
        bestScore = -Infinity;
      for (let k = 0; k + 1 < n; k++) {
        const id = pair[k];
        if (id >= 0 && scores[id] > bestScore) {
          best = k;
          bestScore = scores[id];
        }
      }
      if (best < 0) return n;
      nid[best] = pair[best];
      len[best] += len[best + 1];
      n--;
      for (let k = best + 1; k < n; k++) {
        nid[k] = nid[k + 1];
        start[k] = start[k + 1];
        len[k] = len[k + 1];
        frozen[k] = frozen[k + 1];
        pair[k] = pair[k + 1];
      }
      if (best > 0) pair[best - 1] = this.pairId(text, best - 1, best);
      pair[best] = best + 1 < n ? this.pairId(text, best, best + 1) : -1;
    }
  }

  /** Merges symbols [0, n) through a heap of candidates; the result is the list from 0 along `next`. */
  private mergeByHeap(text: string, n: number): void {
    const s = this.s;
    const { len, nid, prev, next } = s;
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1;
    }
    next[n - 1] = -1;
    let heap = 0;
    for (let k = 0; k + 1 < n; k++) heap = this.consider(text, k, k + 1, heap);
    while (heap > 0) {
      const l = s.left[0],
        r = s.right[0],
        id = s.merged[0],
        size = s.size[0];
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
  }

  /** Pushes the merge of adjacent symbols l and r if their concatenation is a piece. */
  private consider(text: string, l: number, r: number, heap: number): number {
    const id = this.pairId(text, l, r);
    if (id < 0) return heap;
    const s = this.s;
    s.score[heap] = this.vocab.scores[id];
    s.left[heap] = l;
    s.right[heap] = r;
    s.merged[heap] = id;
    s.size[heap] = s.len[l] + s.len[r];
    for (let i = heap; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
    return heap + 1;
  }

  /** Whether heap entry i comes out before entry j: higher score, then leftmost. */
  private before(i: number, j: number): boolean {
    const s = this.s;
    return s.score[i] > s.score[j] || (s.score[i] === s.score[j] && s.left[i] < s.left[j]);
  }

  private swap(i: number, j: number): void {
    const s = this.s;
    let t: number;
    t = s.score[i];
    s.score[i] = s.score[j];
    s.score[j] = t;
    t = s.left[i];
    s.left[i] = s.left[j];
    s.left[j] = t;
    t = s.right[i];
    s.right[i] = s.right[j];
    s.right[j] = t;
    t = s.merged[i];
    s.merged[i] = s.merged[j];
    s.merged[j] = t;
    t = s.size[i];
    s.size[i] = s.size[j];
    s.size[j] = t;
  }

  /** Removes the top entry; returns the new heap size. */
  private pop(heap: number): number {
    const last = heap - 1;
    if (last > 0) this.swap(0, last);
    let i = 0;
    for (;;) {
      const a = 2 * i + 1,
        b = a + 1;
      let best = i;
      if (a < last && this.before(a, best)) best = a;
      if (b < last && this.before(b, best)) best = b;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return last;
  }

  /** Resolves one symbol to ids: PieceToId, UNUSED pieces split again, unknowns to bytes. */
  private emit(text: string, start: number, len: number, id: number, out: number[]): void {
    if (id >= 0 && !this.shadowed.has(id) && this.vocab.types[id] !== PieceType.Unused) {
      out.push(id);
      return;
    }
    this.emitPiece(text.substr(start, len), out);
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
