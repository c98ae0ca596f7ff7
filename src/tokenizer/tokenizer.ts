/**
 * The tokenizer the commands use, whatever file it came from: a SentencePiece `tokenizer.model`
 * (through Hugging Face's slow `LlamaTokenizer` rules, src/tokenizer/llama.ts) or a Hugging Face
 * `tokenizer.json` (src/tokenizer/json/). Special-token text in the input is matched as each
 * format's Hugging Face tokenizer matches it, and `bos`/`eos` add what the format adds around
 * the text.
 */

/** Which special ids to add around the text's ids; each is added unless set to false. */
export interface SpecialIds {
  /**
   * The ids the format puts before the text: SentencePiece's BOS; for a `tokenizer.json`, what
   * its post-processor puts before the sequence (nothing when it has no template).
   */
  bos?: boolean;
  /** The ids after the text: SentencePiece's EOS; for a `tokenizer.json`, what its post-processor puts after the sequence. */
  eos?: boolean;
}

/** How ids turn back into text. */
export interface DecodeIdsOptions {
  /** leave out special tokens (a `tokenizer.model` always leaves out its control pieces) */
  skipSpecialTokens?: boolean;
}

/**
 * Text ↔ ids for one vocabulary.
 * @example
 * const { tokenizer } = await loadTokenizer('Llama-3.2-1B/');
 * tokenizer.encode('Hello world!', { bos: false, eos: false }); // [9906, 1917, 0]
 */
export interface Tokenizer {
  /** One more than the largest id (model vocabulary and added tokens). */
  readonly vocabSize: number;
  /** The special ids, -1 where the tokenizer has none. */
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  /** The ids of text, with the special ids `add` asks for (by default both). */
  encode(text: string, add?: SpecialIds): number[];
  /** Appends the ids of text to `out`. */
  encodeTo(text: string, out: number[], add?: SpecialIds): void;
  /** The text of ids; an id outside [0, vocabSize) throws. */
  decode(ids: ArrayLike<number>, options?: DecodeIdsOptions): string;
  /** The vocabulary entry of an id, or null. */
  idToToken(id: number): string | null;
  /** The id of a vocabulary entry, or -1. */
  tokenToId(token: string): number;
}
