/**
 * A SentencePiece BPE processor with plain SentencePiece semantics: `encode` is
 * `sp.encode(text)` (no special tokens are recognised in the text; no BOS or EOS is added) and
 * `decode` is `sp.decode(ids)`.
 */
import { BpeSegmenter } from './bpe.ts';
import { decodeIds, type DecodeOptions } from './decoder.ts';
import { parseModel, PieceType, type SentencePieceModel } from './model.ts';
import { Normalizer } from './normalizer.ts';
import { codeUnits, PrefixMatcher } from './prefix_matcher.ts';
import { Vocabulary } from './vocabulary.ts';

const encoder = new TextEncoder();

/** Encoder and decoder for one BPE `tokenizer.model`. */
export class SentencePieceProcessor {
  readonly vocab: Vocabulary;
  private readonly normalizer: Normalizer;
  private readonly segmenter: BpeSegmenter;
  private readonly decodeOptions: DecodeOptions;
  private readonly byteFallback: boolean;

  /** Builds the processor; `source` names the model in errors. */
  constructor(model: SentencePieceModel, source: string) {
    if (model.treatWhitespaceAsSuffix)
      throw new Error(`${source}: models with treat_whitespace_as_suffix are not supported`);
    this.vocab = new Vocabulary(model, source);
    const userDefined = model.pieces.filter((_, id) => model.types[id] === PieceType.UserDefined);
    this.normalizer = new Normalizer(
      model.normalizer,
      userDefined.length ? new PrefixMatcher(userDefined.map((p) => encoder.encode(p))) : null,
    );
    this.segmenter = new BpeSegmenter(
      this.vocab,
      userDefined.length ? new PrefixMatcher(userDefined.map(codeUnits)) : null,
      model.byteFallback,
    );
    const { addDummyPrefix, removeExtraWhitespaces } = model.normalizer;
    this.decodeOptions = {
      unkSurface: model.unkSurface,
      stripLeadingSpace: addDummyPrefix || removeExtraWhitespaces,
      stripAllLeadingSpace: removeExtraWhitespaces,
    };
    this.byteFallback = model.byteFallback;
  }

  /** Parses a `tokenizer.model` file's bytes; `source` names it in errors. */
  static fromBytes(bytes: Uint8Array, source: string): SentencePieceProcessor {
    return new SentencePieceProcessor(parseModel(bytes, source), source);
  }

  /** The ids of text, as `sp.encode(text)`. */
  encode(text: string): number[] {
    const out: number[] = [];
    this.encodeTo(text, out);
    return out;
  }

  /** Appends the ids of text to `out`. Without byte fallback a run of unknown symbols is one `<unk>`. */
  encodeTo(text: string, out: number[]): void {
    const begin = out.length;
    this.segmenter.encode(this.normalizer.normalize(text), out);
    if (!this.byteFallback) collapseRuns(out, begin, this.vocab.unkId);
  }

  /** The text of ids, as `sp.decode(ids)`. */
  decode(ids: ArrayLike<number>): string {
    return decodeIds(this.vocab, this.decodeOptions, ids);
  }
}

/** Replaces every run of `id` in out[begin..] by a single `id`. */
function collapseRuns(out: number[], begin: number, id: number): void {
  let w = begin;
  for (let r = begin; r < out.length; r++) {
    if (out[r] === id && w > begin && out[w - 1] === id) continue;
    out[w++] = out[r];
  }
  out.length = w;
}
