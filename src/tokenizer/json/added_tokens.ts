/**
 * The added tokens of a `tokenizer.json` (special tokens such as `<|begin_of_text|>` and any
 * other entries added on top of the model) and how Hugging Face's AddedVocabulary finds them in
 * text: the tokens with `normalized: false` in the raw text first, then the others in the
 * normalized text of what lies between; at each position the leftmost, longest one; a
 * `single_word` token only where no word character touches it (a rejected match is skipped
 * whole); `lstrip`/`rstrip` take the whitespace beside a match into it. Ids are assigned as
 * Hugging Face assigns them when it reads the file: an entry's own vocabulary id, else the next
 * id after the vocabulary and the added tokens so far.
 */
import { WHITE_SPACE } from './char_classes.ts';
import type { JsonNode } from './json_node.ts';

/** One added token. */
export interface AddedToken {
  id: number;
  content: string;
  singleWord: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

/** Where a text splits: [start, end) is either an added token (id ≥ 0) or text to tokenize (id -1). */
export interface Segment {
  start: number;
  end: number;
  id: number;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE_AT_END = new RegExp(`[${WHITE_SPACE}]*$`, 'u');
const SPACE_AT_START = new RegExp(`^[${WHITE_SPACE}]*`, 'u');

interface TrieNode {
  next: Map<number, TrieNode>;
  id: number;
}

/** Leftmost-longest matching of a set of token texts over UTF-16 units. */
class TokenMatcher {
  private readonly root: TrieNode = { next: new Map(), id: -1 };
  /** 1 for each code unit that starts some token */
  private readonly starts = new Uint8Array(65536);
  readonly empty: boolean;

  /** Matches `text` as the token `id`, whose flags are looked up in `byId` when it matches. */
  constructor(
    tokens: { text: string; id: number }[],
    private readonly byId: Map<number, AddedToken>,
  ) {
    for (const { text, id } of tokens) {
      if (text.length === 0) continue;
      let node = this.root;
      for (let i = 0; i < text.length; i++) {
        const u = text.charCodeAt(i);
        let child = node.next.get(u);
        if (!child) node.next.set(u, (child = { next: new Map(), id: -1 }));
        node = child;
      }
      if (node.id < 0) node.id = id;
      this.starts[text.charCodeAt(0)] = 1;
    }
    this.empty = this.root.next.size === 0;
  }

  /** Cuts text at the tokens as find_matches does; null when there is none (the text is one segment). */
  segments(text: string): Segment[] | null {
    let out: Segment[] | null = null;
    let done = 0; // end of the last segment
    for (let i = 0; i < text.length; ) {
      if (!this.starts[text.charCodeAt(i)]) {
        i++;
        continue;
      }
      const [id, length] = this.longestAt(text, i);
      if (id < 0) {
        i++;
        continue;
      }
      const token = this.byId.get(id)!;
      let start = i,
        stop = i + length;
      i = stop;
      if (
        token.singleWord &&
        ((start > 0 && WORD_CHAR.test(lastChar(text, start))) ||
          (stop < text.length && WORD_CHAR.test(firstChar(text, stop))))
      )
        continue;
      if (token.lstrip) start = Math.max(done, SPACE_AT_END.exec(text.slice(0, start))!.index);
      if (token.rstrip) stop += SPACE_AT_START.exec(text.slice(stop))![0].length;
      out ??= [];
      if (done < start) out.push({ start: done, end: start, id: -1 });
      out.push({ start, end: stop, id: token.id });
      done = stop;
    }
    if (out && done < text.length) out.push({ start: done, end: text.length, id: -1 });
    return out;
  }

  /** The id and length of the longest token at text[at], or [-1, 0]. */
  private longestAt(text: string, at: number): [number, number] {
    let node: TrieNode | undefined = this.root;
    let best = -1,
      bestLength = 0;
    for (let i = at; i < text.length; i++) {
      node = node.next.get(text.charCodeAt(i));
      if (!node) break;
      if (node.id >= 0) {
        best = node.id;
        bestLength = i + 1 - at;
      }
    }
    return [best, bestLength];
  }
}

function lastChar(text: string, end: number): string {
  const c = text.charCodeAt(end - 1);
  return c >= 0xdc00 && c <= 0xdfff && end >= 2 ? text.slice(end - 2, end) : text[end - 1];
}

function firstChar(text: string, start: number): string {
  return String.fromCodePoint(text.codePointAt(start)!);
}

/** The added tokens and their two matchers. */
export class AddedTokens {
  /** id → token */
  readonly byId = new Map<number, AddedToken>();
  /** content → id */
  readonly byContent = new Map<string, number>();
  /** contents of the special tokens (left out when decoding with skipSpecialTokens) */
  readonly special = new Set<string>();
  /** tokens matched in the raw text (normalized: false) */
  readonly raw: TokenMatcher;
  /** tokens matched in normalized text (normalized: true), by their normalized text */
  readonly normalized: TokenMatcher;

  /**
   * Reads the `added_tokens` array. `vocab` is the model's token → id, `vocabSize` its number of
   * entries; `normalize` is the tokenizer's normalizer (null if none).
   */
  constructor(
    node: JsonNode,
    vocab: Map<string, number>,
    vocabSize: number,
    normalize: ((text: string) => string) | null,
  ) {
    const tokens: AddedToken[] = [];
    const seen = new Set<string>(); // every field but the id: an exact repeat is skipped
    const items = node.missing ? [] : node.items();
    let maxId = -1;
    for (const item of items) {
      const content = item.get('content').string();
      const flag = (key: string, fallback: boolean) => item.get(key).optBoolean(fallback);
      const special = flag('special', false);
      const token: AddedToken = {
        id: -1,
        content,
        special,
        singleWord: flag('single_word', false),
        lstrip: flag('lstrip', false),
        rstrip: flag('rstrip', false),
        normalized: flag('normalized', !special),
      };
      const key = JSON.stringify([content, special, token.singleWord, token.lstrip, token.rstrip, token.normalized]);
      if (content === '' || seen.has(key)) continue;
      seen.add(key);
      token.id =
        this.byContent.get(content) ??
        vocab.get(content) ??
        (maxId >= vocabSize || vocabSize === 0 ? maxId + 1 : vocabSize);
      if (special) this.special.add(content);
      this.byContent.set(content, token.id);
      this.byId.set(token.id, token);
      maxId = Math.max(maxId, token.id);
      tokens.push(token);
    }
    this.raw = new TokenMatcher(
      tokens.filter((t) => !t.normalized).map((t) => ({ text: t.content, id: t.id })),
      this.byId,
    );
    this.normalized = new TokenMatcher(
      tokens.filter((t) => t.normalized).map((t) => ({ text: normalize ? normalize(t.content) : t.content, id: t.id })),
      this.byId,
    );
  }
}
