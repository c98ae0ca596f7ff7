/**
 * A Hugging Face `tokenizer.json` with a BPE model, run as the Rust `tokenizers` library runs it:
 * added tokens are cut out of the raw text, each piece between them is normalized (and cut again
 * at added tokens matched after normalization), pre-tokenized into words, and each word is
 * encoded by the model; the post-processor's template adds the special ids. Decoding maps ids to
 * tokens (added tokens first) and runs the decoder.
 *
 * The special ids come from the `tokenizer_config.json` beside the file when there is one
 * (`bos_token`, `eos_token`, `pad_token`, `unk_token`), else from the template (its one token
 * before the text is BOS, its one token after is EOS) and the model's unk_token.
 */
import type { DecodeIdsOptions, SpecialIds, Tokenizer } from '../tokenizer.ts';
import { AddedTokens, type Segment } from './added_tokens.ts';
import { BpeModel } from './bpe_model.ts';
import { buildDecoder } from './decoders.ts';
import { JsonNode } from './json_node.ts';
import { buildNormalizer, type Normalize } from './normalizers.ts';
import { buildTemplate, type Template } from './post_processor.ts';
import { buildPreTokenizer, byteLevelScanner, type PreTokenize } from './pre_tokenizers.ts';
import type { SplitScanner } from './split_scanner.ts';

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const ANY_SURROGATE = /[\uD800-\uDFFF]/;

/** A parsed tokenizer.json (and its tokenizer_config.json) ready to encode and decode. */
export class JsonTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  readonly model: BpeModel;
  private readonly added: AddedTokens;
  private readonly normalize: Normalize | null;
  private readonly preTokenize: PreTokenize | null;
  /** set when words can be cut from the raw text and encoded through the model's byte-level path */
  private readonly scanner: SplitScanner | null;
  private readonly template: Template;
  private readonly decodeTokens: (tokens: string[]) => string;
  private ends = new Int32Array(256);

  /**
   * Builds the tokenizer from the parsed JSON of a tokenizer.json (`source` names it in errors)
   * and optionally of its tokenizer_config.json (`configSource` names that).
   */
  constructor(json: unknown, source: string, config: unknown = null, configSource = 'tokenizer_config.json') {
    const root = new JsonNode(json, source);
    if (!root.isObject()) root.fail('expected a JSON object (a Hugging Face tokenizer.json)');
    const modelNode = root.get('model');
    if (!modelNode.isObject()) modelNode.fail('expected the model object');
    const modelType = modelNode.get('type').missing
      ? modelNode.get('merges').missing
        ? 'unknown'
        : 'BPE'
      : modelNode.get('type').value;
    if (modelType !== 'BPE')
      modelNode.get('type').fail(`only BPE models are supported; this one is ${JSON.stringify(modelType)}`);
    this.model = new BpeModel(modelNode);
    this.normalize = buildNormalizer(root.get('normalizer'));
    this.added = new AddedTokens(root.get('added_tokens'), this.model.vocab, this.model.vocab.size, this.normalize);
    const preTokenizerNode = root.get('pre_tokenizer');
    this.preTokenize = buildPreTokenizer(preTokenizerNode);
    this.scanner = this.model.byteLevelIds ? byteLevelScanner(preTokenizerNode) : null;
    this.template = buildTemplate(root.get('post_processor'));
    this.decodeTokens = buildDecoder(root.get('decoder'));

    let maxId = this.model.tokens.length - 1;
    for (const id of this.added.byId.keys()) maxId = Math.max(maxId, id);
    this.vocabSize = maxId + 1;
    const configNode = new JsonNode(config, configSource);
    const special = (key: string, fallback: number) => {
      if (configNode.missing) return fallback;
      const entry = configNode.get(key);
      if (entry.missing) return fallback;
      const content = entry.isObject() ? entry.get('content').string() : entry.string();
      const id = this.tokenToId(content);
      if (id < 0) entry.fail(`${JSON.stringify(content)} is not in ${source}`);
      return id;
    };
    const only = (ids: number[]) => (ids.length === 1 ? ids[0] : -1);
    this.bosId = special('bos_token', only(this.template.before));
    this.eosId = special('eos_token', only(this.template.after));
    this.padId = special('pad_token', -1);
    this.unkId = special('unk_token', this.model.unkId);
  }

  /** Parses a tokenizer.json text (and optionally its tokenizer_config.json text). */
  static fromText(
    json: string,
    source: string,
    config: string | null = null,
    configSource = 'tokenizer_config.json',
  ): JsonTokenizer {
    return new JsonTokenizer(
      parse(json, source),
      source,
      config === null ? null : parse(config, configSource),
      configSource,
    );
  }

  encode(text: string, add: SpecialIds = {}): number[] {
    const out: number[] = [];
    this.encodeTo(text, out, add);
    return out;
  }

  encodeTo(text: string, out: number[], { bos = true, eos = true }: SpecialIds = {}): void {
    if (bos) for (const id of this.template.before) out.push(id);
    if (ANY_SURROGATE.test(text)) text = text.replace(LONE_SURROGATE, '\uFFFD');
    const segments = this.added.raw.empty ? null : this.added.raw.segments(text);
    if (segments)
      this.encodeSegments(text, segments, true, (piece, atStart) => this.encodeRawPiece(piece, atStart, out), out);
    else this.encodeRawPiece(text, true, out);
    if (eos) for (const id of this.template.after) out.push(id);
  }

  decode(ids: ArrayLike<number>, { skipSpecialTokens = false }: DecodeIdsOptions = {}): string {
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize)
        throw new Error(`id ${id} is out of range [0, ${this.vocabSize})`);
      const token = this.idToToken(id);
      if (token === null) throw new Error(`id ${id} has no token`);
      if (skipSpecialTokens && this.added.special.has(token)) continue;
      tokens.push(token);
    }
    return this.decodeTokens(tokens);
  }

  idToToken(id: number): string | null {
    return this.added.byId.get(id)?.content ?? this.model.tokens[id] ?? null;
  }

  tokenToId(token: string): number {
    return this.added.byContent.get(token) ?? this.model.vocab.get(token) ?? -1;
  }

  /** Calls `encode` on the text between added tokens and appends the added tokens' ids. */
  private encodeSegments(
    text: string,
    segments: Segment[],
    atStart: boolean,
    encode: (piece: string, atStart: boolean) => void,
    out: number[],
  ): void {
    for (const s of segments) {
      if (s.id >= 0) out.push(s.id);
      else encode(text.slice(s.start, s.end), atStart && s.start === 0);
    }
  }

  /** Normalizes a piece of raw text, cuts it at the normalized added tokens, and encodes the rest. */
  private encodeRawPiece(piece: string, atStart: boolean, out: number[]): void {
    if (piece.length === 0) return;
    const normalized = this.normalize ? this.normalize(piece) : piece;
    const segments =
      this.added.normalized.empty || normalized.length === 0 ? null : this.added.normalized.segments(normalized);
    if (segments)
      this.encodeSegments(normalized, segments, atStart, (p, first) => this.encodeNormalized(p, first, out), out);
    else this.encodeNormalized(normalized, atStart, out);
  }

  /** Pre-tokenizes normalized text and encodes each word. */
  private encodeNormalized(text: string, atStart: boolean, out: number[]): void {
    if (text.length === 0) return;
    if (this.scanner) {
      if (this.ends.length < text.length) this.ends = new Int32Array(2 * text.length);
      const n = this.scanner.split(text, 0, text.length, this.ends);
      for (let k = 0, start = 0; k < n; start = this.ends[k++])
        this.model.encodeRaw(text.slice(start, this.ends[k]), out);
      return;
    }
    if (!this.preTokenize) {
      this.model.encodeWord(text, out);
      return;
    }
    const words: string[] = [];
    this.preTokenize(text, atStart, words);
    for (const word of words) this.model.encodeWord(word, out);
  }
}

function parse(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
}
