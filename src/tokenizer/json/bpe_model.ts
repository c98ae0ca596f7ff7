/**
 * The BPE model of a `tokenizer.json` ("model": {"type": "BPE", ...}) as Hugging Face's Rust
 * tokenizers runs it on each pre-token ("word"): the word's characters are looked up (an unknown
 * one becomes its `<0xXX>` byte tokens with byte fallback, else the unknown token, consecutive
 * ones fused with fuse_unk, else nothing), then the adjacent pair with the lowest merge rank is
 * merged (ties: leftmost) until no pair has a merge. With ignore_merges a word that is itself a
 * vocabulary entry is that entry.
 *
 * Two ways in, each with its own cache. Byte-level files (GPT-2's alphabet) can come as the raw
 * text of each word: its UTF-8 bytes are the starting symbols, so no alphabet string is built,
 * and the cache is keyed by the raw word (for ignore_merges a word is first looked up among the
 * entries that are whole UTF-8 text). Otherwise words come finished; a long one is cut where no vocabulary entry
 * spans the two characters on either side (no merge can cross such a cut, so each part merges
 * alone as it would inside the word), and each part is cached.
 */
import { PairTable } from '../pair_table.ts';
import { BYTE_CHARS, fromByteLevel } from './byte_level.ts';
import type { JsonNode } from './json_node.ts';

/** Words cached before the cache starts over, and the longest word kept. */
const WORD_CACHE_LIMIT = 200_000;
const WORD_CACHE_LONGEST = 256;
/** Symbols up to which a word merges by scanning all pairs instead of through a heap. */
const SCAN_LIMIT = 48;
/** Words longer than this (in UTF-16 units) are cut where possible before merging. */
const CUT_FROM = 32;

const encoder = new TextEncoder();
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The text of UTF-8 bytes, or null when they are not whole, valid UTF-8. */
function wholeUtf8(bytes: Uint8Array): string | null {
  const text = lenientUtf8.decode(bytes);
  if (!text.includes('\uFFFD')) return text;
  try {
    return strictUtf8.decode(bytes); // U+FFFD may be real text
  } catch {
    return null;
  }
}

/** `<0x41>` for byte 0x41, the form of byte-fallback tokens. */
function byteToken(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** The BPE vocabulary, merges and the word encoder. */
export class BpeModel {
  /** token → id */
  readonly vocab = new Map<string, number>();
  /** id → token (holes where the vocabulary skips ids) */
  readonly tokens: string[] = [];
  /** id of unk_token, or -1 */
  readonly unkId: number;
  private readonly pairs: PairTable; // (left id, right id) → merge rank
  private readonly mergedId: Int32Array; // [rank] id of the merged token
  private readonly prefix: string;
  private readonly suffix: string;
  private readonly byteFallback: boolean;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  /** ids of `<0x00>`..`<0xFF>`, -1 where missing */
  private readonly byteIds = new Int32Array(256).fill(-1);
  /** ids of the 256 byte-level alphabet characters, or null when one is missing */
  readonly byteLevelIds: Int32Array | null;
  /** whether cutting long words is exact for this model */
  private readonly cuttable: boolean;
  /** pairs of UTF-16 units that sit side by side inside some vocabulary entry (left << 16 | right), built on first use */
  private adjacent: Set<number> | null = null;
  /** with ignore_merges: the text of every entry that is whole UTF-8 → its id */
  private readonly wholeEntries: Map<string, number> | null = null;
  /** raw byte-level word → ids */
  private rawCache = new Map<string, number[]>();
  /** finished word (or part of one) → ids */
  private cache = new Map<string, number[]>();
  // scratch [symbols]: ids, pair ranks, links; heap [3 × symbols]: rank and left position
  private sym = new Int32Array(64);
  private rank = new Int32Array(64);
  private prev = new Int32Array(64);
  private next = new Int32Array(64);
  private heapRank = new Int32Array(192);
  private heapPos = new Int32Array(192);

  /** Builds the model from the `model` node of a tokenizer.json. */
  constructor(node: JsonNode) {
    const dropout = node.get('dropout');
    if (!dropout.missing && dropout.number() !== 0)
      dropout.fail('BPE dropout is random and only for training; it is not supported');
    this.prefix = node.get('continuing_subword_prefix').optString('');
    this.suffix = node.get('end_of_word_suffix').optString('');
    this.byteFallback = node.get('byte_fallback').optBoolean(false);
    this.fuseUnk = node.get('fuse_unk').optBoolean(false);
    this.ignoreMerges = node.get('ignore_merges').optBoolean(false);

    const vocabNode = node.get('vocab');
    if (!vocabNode.isObject()) vocabNode.fail('expected an object of token → id');
    const vocab = vocabNode.value as Record<string, unknown>;
    for (const token of Object.keys(vocab)) {
      // (much faster than Object.entries on 100K keys)
      const id = vocab[token] as number;
      if (!Number.isInteger(id) || id < 0) vocabNode.get(token).fail('expected a non-negative integer id');
      if (this.tokens[id] !== undefined)
        vocabNode.get(token).fail(`id ${id} is also ${JSON.stringify(this.tokens[id])}`);
      this.vocab.set(token, id);
      this.tokens[id] = token;
    }
    const unk = node.get('unk_token').optString(null);
    this.unkId = unk === null ? -1 : (this.vocab.get(unk) ?? -1);
    if (unk !== null && this.unkId < 0) node.get('unk_token').fail(`${JSON.stringify(unk)} is not in the vocabulary`);
    for (let b = 0; b < 256; b++) this.byteIds[b] = this.vocab.get(byteToken(b)) ?? -1;

    const { pairs, mergedId, touchesBytes } = this.readMerges(node.get('merges'));
    this.pairs = pairs;
    this.mergedId = mergedId;
    const noUnk = this.unkId < 0 || !this.fuseUnk || (this.byteFallback && this.byteIds.every((id) => id >= 0));
    this.cuttable = this.prefix === '' && this.suffix === '' && !touchesBytes && noUnk;

    const byteLevelIds = Int32Array.from(BYTE_CHARS, (ch) => this.vocab.get(ch) ?? -1);
    this.byteLevelIds =
      byteLevelIds.every((id) => id >= 0) && this.prefix === '' && this.suffix === '' ? byteLevelIds : null;
    if (this.byteLevelIds && this.ignoreMerges) {
      this.wholeEntries = new Map();
      for (const [token, id] of this.vocab) {
        const bytes = fromByteLevel(token);
        const text = bytes && wholeUtf8(bytes);
        if (text) this.wholeEntries.set(text, id);
      }
    }
  }

  /** Ranks the merges: [a, b] pairs or "a b" strings; both parts and their concatenation must be entries. */
  private readMerges(node: JsonNode): { pairs: PairTable; mergedId: Int32Array; touchesBytes: boolean } {
    const list = node.value;
    if (!Array.isArray(list)) node.fail('expected an array of merges');
    const triples = new Int32Array(3 * list.length); // left, right, rank
    const mergedId = new Int32Array(list.length);
    const isByte = new Set(this.byteIds.filter((id) => id >= 0));
    let touchesBytes = false;
    for (let rank = 0; rank < list.length; rank++) {
      const merge = list[rank];
      let a: unknown, b: unknown;
      if (typeof merge === 'string') {
        const space = merge.indexOf(' ');
        if (space >= 0 && merge.indexOf(' ', space + 1) < 0) {
          a = merge.slice(0, space);
          b = merge.slice(space + 1);
        }
      } else if (Array.isArray(merge) && merge.length === 2) {
        [a, b] = merge;
      }
      const at = () => node.items()[rank];
      if (typeof a !== 'string' || typeof b !== 'string')
        return at().fail('expected "left right" or ["left", "right"]');
      const left = this.vocab.get(a),
        right = this.vocab.get(b);
      const merged = this.vocab.get(a + b.slice(b.startsWith(this.prefix) ? this.prefix.length : 0));
      if (left === undefined || right === undefined || merged === undefined) {
        return at().fail(
          `${JSON.stringify(left === undefined ? a : right === undefined ? b : a + b)} is not in the vocabulary`,
        );
      }
      triples[3 * rank] = left;
      triples[3 * rank + 1] = right;
      triples[3 * rank + 2] = rank;
      mergedId[rank] = merged;
      if (isByte.has(left) || isByte.has(right)) touchesBytes = true;
    }
    return { pairs: new PairTable(triples), mergedId, touchesBytes };
  }

  /** Appends the ids of a raw word of a byte-level file (needs byteLevelIds). */
  encodeRaw(word: string, out: number[]): void {
    const id = this.wholeEntries?.get(word);
    if (id !== undefined) {
      out.push(id);
      return;
    }
    let ids = this.rawCache.get(word);
    if (ids === undefined) {
      const bytes = encoder.encode(word);
      const sym = this.reserve(bytes.length);
      const table = this.byteLevelIds!;
      for (let i = 0; i < bytes.length; i++) sym[i] = table[bytes[i]];
      ids = this.merge(bytes.length);
      if (word.length <= WORD_CACHE_LONGEST) {
        if (this.rawCache.size >= WORD_CACHE_LIMIT) this.rawCache.clear();
        this.rawCache.set(word, ids);
      }
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k]);
  }

  /** Appends the ids of a finished word. */
  encodeWord(word: string, out: number[]): void {
    if (word.length === 0) return;
    if (this.ignoreMerges) {
      const id = this.vocab.get(word);
      if (id !== undefined) {
        out.push(id);
        return;
      }
    }
    if (!this.cuttable || word.length <= CUT_FROM) {
      this.encodePart(word, true, true, out);
      return;
    }
    const adjacent = this.adjacent ?? this.buildAdjacent();
    let start = 0;
    for (let i = 1; i < word.length; i++) {
      const c = word.charCodeAt(i);
      if (c >= 0xdc00 && c <= 0xdfff) continue; // never inside a surrogate pair
      if (adjacent.has((word.charCodeAt(i - 1) << 16) | c)) continue;
      this.encodePart(word.slice(start, i), start === 0, false, out);
      start = i;
    }
    this.encodePart(start === 0 ? word : word.slice(start), start === 0, true, out);
  }

  private buildAdjacent(): Set<number> {
    const adjacent = new Set<number>();
    for (const token of this.vocab.keys())
      for (let k = 1; k < token.length; k++) adjacent.add((token.charCodeAt(k - 1) << 16) | token.charCodeAt(k));
    return (this.adjacent = adjacent);
  }

  /**
   * Appends the ids of part of a word (first/last: whether it starts or ends the word). A word
   * is only cut when there is no subword prefix or suffix, so the cache key need not say which.
   */
  private encodePart(part: string, first: boolean, last: boolean, out: number[]): void {
    let ids = this.cache.get(part);
    if (ids === undefined) {
      ids = this.merge(this.symbols(part, first, last));
      if (part.length <= WORD_CACHE_LONGEST) {
        if (this.cache.size >= WORD_CACHE_LIMIT) this.cache.clear();
        this.cache.set(part, ids);
      }
    }
    for (let k = 0; k < ids.length; k++) out.push(ids[k]);
  }

  /** Writes the starting symbols of a word into the scratch; returns their count. */
  private symbols(word: string, first: boolean, last: boolean): number {
    let sym = this.reserve(word.length * 4 + 1);
    let n = 0;
    let unkOpen = false; // the last symbol is an unknown that fuse_unk may extend
    for (let i = 0; i < word.length; ) {
      const c = word.charCodeAt(i);
      const width = c >= 0xd800 && c < 0xdc00 && i + 1 < word.length ? 2 : 1;
      let s = width === 1 ? word[i] : word.slice(i, i + 2);
      if (!(first && i === 0)) s = this.prefix + s;
      i += width;
      if (last && i === word.length) s += this.suffix;
      const id = this.vocab.get(s);
      if (id !== undefined) {
        sym[n++] = id;
        unkOpen = false;
        continue;
      }
      if (this.byteFallback) {
        const bytes = encoder.encode(s);
        if (bytes.every((b) => this.byteIds[b] >= 0)) {
          sym = this.reserve(n + bytes.length);
          for (const b of bytes) sym[n++] = this.byteIds[b];
          unkOpen = false;
          continue;
        }
      }
      if (this.unkId < 0) continue;
      if (!(unkOpen && this.fuseUnk)) sym[n++] = this.unkId;
      unkOpen = true;
    }
    return n;
  }

  /** Merges the n scratch symbols; returns the resulting ids. */
  private merge(n: number): number[] {
    if (n > SCAN_LIMIT) return this.mergeByHeap(n);
    const { sym, rank, pairs, mergedId } = this;
    for (let k = 0; k + 1 < n; k++) rank[k] = pairs.get(sym[k], sym[k + 1]);
    for (;;) {
      let best = -1,
        bestRank = 0x7fffffff;
      for (let k = 0; k + 1 < n; k++) {
        const r = rank[k];
        if (r >= 0 && r < bestRank) {
          best = k;
          bestRank = r;
        }
      }
      if (best < 0) break;
      sym[best] = mergedId[bestRank];
      n--;
      for (let k = best + 1; k < n; k++) {
        sym[k] = sym[k + 1];
        rank[k] = rank[k + 1];
      }
      if (best > 0) rank[best - 1] = pairs.get(sym[best - 1], sym[best]);
      rank[best] = best + 1 < n ? pairs.get(sym[best], sym[best + 1]) : -1;
    }
    return Array.from(sym.subarray(0, n));
  }

  /** merge() for long words: candidate merges in a heap ordered by rank, then position. */
  private mergeByHeap(n: number): number[] {
    const { sym, prev, next, pairs, mergedId } = this;
    for (let k = 0; k < n; k++) {
      prev[k] = k - 1;
      next[k] = k + 1;
    }
    next[n - 1] = -1;
    let size = 0;
    const push = (pos: number) => {
      const r = pairs.get(sym[pos], sym[next[pos]]);
      if (r < 0) return;
      if (size === this.heapRank.length) this.growHeap();
      const hr = this.heapRank,
        hp = this.heapPos;
      let i = size++;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (hr[parent] < r || (hr[parent] === r && hp[parent] < pos)) break;
        hr[i] = hr[parent];
        hp[i] = hp[parent];
        i = parent;
      }
      hr[i] = r;
      hp[i] = pos;
    };
    for (let k = 0; k + 1 < n; k++) push(k);
    while (size > 0) {
      const hr = this.heapRank,
        hp = this.heapPos;
      const r = hr[0],
        pos = hp[0];
      size--;
      const lastRank = hr[size],
        lastPos = hp[size];
      let i = 0;
      for (;;) {
        let child = 2 * i + 1;
        if (child >= size) break;
        if (
          child + 1 < size &&
          (hr[child + 1] < hr[child] || (hr[child + 1] === hr[child] && hp[child + 1] < hp[child]))
        )
          child++;
        if (lastRank < hr[child] || (lastRank === hr[child] && lastPos < hp[child])) break;
        hr[i] = hr[child];
        hp[i] = hp[child];
        i = child;
      }
      hr[i] = lastRank;
      hp[i] = lastPos;
      // a candidate is stale once its left symbol was merged away or its pair changed
      if (prev[pos] === -2 || next[pos] < 0 || pairs.get(sym[pos], sym[next[pos]]) !== r) continue;
      const right = next[pos];
      sym[pos] = mergedId[r];
      next[pos] = next[right];
      if (next[right] >= 0) prev[next[right]] = pos;
      prev[right] = -2;
      if (prev[pos] >= 0) push(prev[pos]);
      if (next[pos] >= 0) push(pos);
    }
    const ids: number[] = [];
    for (let k = 0; k !== -1; k = next[k]) ids.push(sym[k]);
    return ids;
  }

  private growHeap(): void {
    const rank = new Int32Array(this.heapRank.length * 2),
      pos = new Int32Array(this.heapPos.length * 2);
    rank.set(this.heapRank);
    pos.set(this.heapPos);
    this.heapRank = rank;
    this.heapPos = pos;
  }

  /** The symbol scratch, grown to hold n symbols (contents kept). */
  private reserve(n: number): Int32Array {
    if (n > this.sym.length) {
      const size = Math.max(n, 2 * this.sym.length);
      const sym = new Int32Array(size);
      sym.set(this.sym);
      this.sym = sym;
      this.rank = new Int32Array(size);
      this.prev = new Int32Array(size);
      this.next = new Int32Array(size);
    }
    return this.sym;
  }
}
