/**
 * The tokenizer a GGUF file carries (`tokenizer.ggml.*`), as the files our tokenizer classes are
 * built from, and back:
 * - `llama` (SentencePiece BPE: tokens, scores, token types) ↔ a `tokenizer.model` (a protobuf
 *   ModelProto with Llama's normalizer: no character map, spaces kept, a dummy prefix unless
 *   `add_space_prefix` is false; byte fallback when the vocabulary has byte tokens);
 * - `gpt2` (byte-level BPE: tokens, merges, token types, and `pre`, the name of the
 *   pre-tokenizer's split pattern) ↔ a `tokenizer.json`, with `tokenizer.chat_template` in a
 *   tokenizer_config.json. Token types are SentencePiece's: 1 normal, 2 unknown, 3 control,
 *   4 user-defined, 5 unused, 6 byte.
 */
import { parseModel, PieceType } from '../../tokenizer/model.ts';
import type { TokenizerFiles } from '../../tokenizer/files.ts';
import { ProtobufWriter } from '../../tokenizer/protobuf.ts';
import type { MetaValue, TypedValue } from './format.ts';

/** The split patterns of the byte-level vocabularies read here, by `tokenizer.ggml.pre`. */
const SPLIT_PATTERNS: Record<string, string> = {
  'llama-bpe':
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  qwen2:
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
};

/** The tokenizer of a GGUF file's metadata as tokenizer files; errors name the file and key. */
export function tokenizerFilesFromGguf(meta: ReadonlyMap<string, MetaValue>, where: string): TokenizerFiles {
  const kind = meta.get('tokenizer.ggml.model');
  const tokens = meta.get('tokenizer.ggml.tokens');
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === 'string'))
    throw new Error(
      `${where}: key tokenizer.ggml.tokens ${tokens === undefined ? 'is missing' : 'is not an array of strings'}`,
    );
  const n = tokens.length,
    types = meta.get('tokenizer.ggml.token_type') ?? new Int32Array(n).fill(PieceType.Normal);
  if (!(types instanceof Int32Array) || types.length !== n)
    throw new Error(`${where}: key tokenizer.ggml.token_type must be ${n} i32 values`);
  const id = (key: string): number | undefined => {
    const v = meta.get(`tokenizer.ggml.${key}_token_id`);
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= n)
      throw new Error(`${where}: key tokenizer.ggml.${key}_token_id is ${String(v)}, not a token id below ${n}`);
    return v;
  };
  if (kind === 'llama') {
    const scores = meta.get('tokenizer.ggml.scores');
    if (!(scores instanceof Float32Array) || scores.length !== n)
      throw new Error(`${where}: key tokenizer.ggml.scores must be ${n} f32 values`);
    const piece = (key: string, fallback: string) => {
      const i = id(key);
      return i === undefined ? fallback : (tokens[i] as string);
    };
    const model = new ProtobufWriter();
    for (let i = 0; i < n; i++)
      model.bytes(
        1,
        new ProtobufWriter()
          .string(1, tokens[i] as string)
          .float(2, scores[i])
          .int(3, types[i])
          .done(),
      );
    const trainer = new ProtobufWriter()
      .int(3, 2)
      .int(35, types.includes(PieceType.Byte) ? 1 : 0)
      .string(45, piece('unknown', '<unk>'))
      .string(46, piece('bos', '<s>'))
      .string(47, piece('eos', '</s>'))
      .string(48, piece('padding', '<pad>'));
    const addPrefix = meta.get('tokenizer.ggml.add_space_prefix') !== false;
    const normalizer = new ProtobufWriter()
      .string(1, 'identity')
      .int(3, addPrefix ? 1 : 0)
      .int(4, 0)
      .int(5, 1);
    model.bytes(2, trainer.done()).bytes(3, normalizer.done());
    return { format: 'tokenizer.model', model: model.done() };
  }
  if (kind === 'gpt2') return byteLevelFiles(meta, where, tokens as string[], types, id);
  throw new Error(
    `${where}: key tokenizer.ggml.model is ${JSON.stringify(kind)}; only llama (SentencePiece) and gpt2 (byte-level BPE) vocabularies are read`,
  );
}

/** A tokenizer.json (and tokenizer_config.json) for a byte-level BPE vocabulary. */
function byteLevelFiles(
  meta: ReadonlyMap<string, MetaValue>,
  where: string,
  tokens: string[],
  types: Int32Array,
  id: (key: string) => number | undefined,
): TokenizerFiles {
  const merges = meta.get('tokenizer.ggml.merges'),
    pre = meta.get('tokenizer.ggml.pre') ?? 'default';
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === 'string'))
    throw new Error(
      `${where}: key tokenizer.ggml.merges ${merges === undefined ? 'is missing' : 'is not an array of strings'}`,
    );
  const pattern = SPLIT_PATTERNS[pre as string];
  if (pre !== 'default' && pre !== 'gpt2' && !pattern)
    throw new Error(
      `${where}: key tokenizer.ggml.pre is ${JSON.stringify(pre)}; the pre-tokenizers read are ${['default', 'gpt2', ...Object.keys(SPLIT_PATTERNS)].join(', ')}`,
    );
  const vocab: Record<string, number> = {};
  const added: object[] = [];
  tokens.forEach((content, i) => {
    if (types[i] === PieceType.Control || types[i] === PieceType.UserDefined) {
      added.push({
        id: i,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: types[i] === PieceType.UserDefined,
        special: types[i] === PieceType.Control,
      });
    }
    if (!Object.hasOwn(vocab, content)) vocab[content] = i;
  });
  const bos = id('bos'),
    addBos = meta.get('tokenizer.ggml.add_bos_token') === true && bos !== undefined;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: !pattern };
  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: pre === 'qwen2' ? { type: 'NFC' } : null,
    pre_tokenizer: pattern
      ? {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Split', pattern: { Regex: pattern }, behavior: 'Isolated', invert: false },
            byteLevel,
          ],
        }
      : byteLevel,
    post_processor: addBos
      ? {
          type: 'TemplateProcessing',
          single: [{ SpecialToken: { id: tokens[bos], type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
          pair: [
            { SpecialToken: { id: tokens[bos], type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: tokens[bos], type_id: 1 } },
            { Sequence: { id: 'B', type_id: 1 } },
          ],
          special_tokens: { [tokens[bos]]: { id: tokens[bos], ids: [bos], tokens: [tokens[bos]] } },
        }
      : null,
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: pre === 'llama-bpe',
      vocab,
      merges,
    },
  };
  const template = meta.get('tokenizer.chat_template');
  const token = (key: string) => {
    const i = id(key);
    return i === undefined ? null : tokens[i];
  };
  const config =
    typeof template === 'string'
      ? { chat_template: template, bos_token: token('bos'), eos_token: token('eos'), add_bos_token: addBos }
      : null;
  const enc = new TextEncoder();
  return {
    format: 'tokenizer.json',
    json: enc.encode(JSON.stringify(json)),
    config: config ? enc.encode(JSON.stringify(config)) : null,
  };
}

/**
 * The `tokenizer.ggml.*` keys for a SentencePiece `tokenizer.model` or a byte-level BPE
 * `tokenizer.json` (with its tokenizer_config.json's chat template), the vocabulary padded to
 * the model's `vocabSize` with unused `[PAD<i>]` tokens as llama.cpp's converter pads it;
 * `source` names the tokenizer in errors.
 */
export function tokenizerToGguf(files: TokenizerFiles, source: string, vocabSize: number): [string, TypedValue][] {
  if (files.format === 'tokenizer.json') return byteLevelToGguf(files, source, vocabSize);
  const m = parseModel(files.model, source);
  const unk = m.types.indexOf(PieceType.Unknown);
  return [
    ['tokenizer.ggml.model', { type: 'string', value: 'llama' }],
    ['tokenizer.ggml.tokens', { type: 'strings', value: m.pieces }],
    ['tokenizer.ggml.scores', { type: 'f32s', value: m.scores }],
    ['tokenizer.ggml.token_type', { type: 'i32s', value: Int32Array.from(m.types) }],
    // A model without <unk> has no such key (u32 cannot hold "none").
    ...(unk >= 0 ? ([['tokenizer.ggml.unknown_token_id', { type: 'u32', value: unk }]] as [string, TypedValue][]) : []),
    ['tokenizer.ggml.add_space_prefix', { type: 'bool', value: m.normalizer.addDummyPrefix }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: true }],
    ['tokenizer.ggml.add_eos_token', { type: 'bool', value: false }],
  ];
}

type Json = Record<string, unknown>;

/** A byte-level BPE tokenizer.json as GGUF `gpt2` vocabulary keys. */
function byteLevelToGguf(
  files: TokenizerFiles & { format: 'tokenizer.json' },
  source: string,
  vocabSize: number,
): [string, TypedValue][] {
  const text = new TextDecoder().decode(files.json);
  let json: Json;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new Error(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const model = (json.model ?? {}) as Json;
  if (model.type !== 'BPE' || typeof model.vocab !== 'object' || !Array.isArray(model.merges))
    throw new Error(`${source}: model is not a BPE model with vocab and merges, which GGUF's gpt2 vocabulary needs`);
  const pre = preTokenizerName(json.pre_tokenizer as Json | null, source);
  const tokens: string[] = [],
    types: number[] = [];
  const put = (id: number, content: string, type: number) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize)
      throw new Error(
        `${source}: token ${JSON.stringify(content)} has id ${id}, outside the model's vocabulary of ${vocabSize}`,
      );
    tokens[id] = content;
    types[id] = type;
  };
  for (const [content, id] of Object.entries(model.vocab as Record<string, number>)) put(id, content, PieceType.Normal);
  for (const t of (json.added_tokens ?? []) as { id: number; content: string; special?: boolean }[])
    put(t.id, t.content, t.special ? PieceType.Control : PieceType.UserDefined);
  for (let i = 0; i < vocabSize; i++) if (tokens[i] === undefined) put(i, `[PAD${i}]`, PieceType.Unused);
  const merges = (model.merges as (string | string[])[]).map((m) => (Array.isArray(m) ? m.join(' ') : m));
  const post = json.post_processor as Json | null;
  const addBos =
    post?.type === 'TemplateProcessing' && Array.isArray(post.single) && 'SpecialToken' in (post.single[0] as Json);
  const out: [string, TypedValue][] = [
    ['tokenizer.ggml.model', { type: 'string', value: 'gpt2' }],
    ['tokenizer.ggml.pre', { type: 'string', value: pre }],
    ['tokenizer.ggml.tokens', { type: 'strings', value: tokens }],
    ['tokenizer.ggml.token_type', { type: 'i32s', value: Int32Array.from(types) }],
    ['tokenizer.ggml.merges', { type: 'strings', value: merges }],
    ['tokenizer.ggml.add_bos_token', { type: 'bool', value: addBos }],
  ];
  const template = files.config
    ? (JSON.parse(new TextDecoder().decode(files.config)) as Json).chat_template
    : undefined;
  if (typeof template === 'string') out.push(['tokenizer.chat_template', { type: 'string', value: template }]);
  return out;
}

/** The GGUF `pre` name of a tokenizer.json pre-tokenizer: a Split by one of the known patterns then ByteLevel, or ByteLevel alone (gpt2). */
function preTokenizerName(node: Json | null, source: string): string {
  if (node?.type === 'ByteLevel' && node.use_regex !== false) return 'gpt2';
  const parts = node?.type === 'Sequence' && Array.isArray(node.pretokenizers) ? (node.pretokenizers as Json[]) : [];
  const regex =
    parts.length === 2 && parts[0].type === 'Split' && parts[1].type === 'ByteLevel'
      ? ((parts[0].pattern ?? {}) as Json).Regex
      : undefined;
  const name = Object.keys(SPLIT_PATTERNS).find((k) => SPLIT_PATTERNS[k] === regex);
  if (!name)
    throw new Error(
      `${source}: the pre-tokenizer is not one GGUF names here (a Split by the Llama 3 or Qwen2 pattern then ByteLevel, or ByteLevel alone)`,
    );
  return name;
}
