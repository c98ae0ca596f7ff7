/**
 * A model's shape in GGUF metadata (`general.architecture` = llama, qwen2 or qwen3, and the
 * `<arch>.*` keys) to our LlamaConfig and back. The special ids come from `tokenizer.ggml.*`.
 */
import {
  headDim,
  validateConfig,
  type Llama3RopeScaling,
  type LlamaConfig,
  type ModelFamily,
} from '../../model/config.ts';
import type { MetaValue, TypedValue } from './format.ts';

const ARCHITECTURES: Record<string, ModelFamily> = { llama: 'llama', qwen2: 'qwen2', qwen3: 'qwen3' };

/** Llama 3's usual rescaling constants; a file's factors are checked against them. */
const LLAMA3_LOW = 1,
  LLAMA3_HIGH = 4,
  LLAMA3_ORIGINAL = 8192;

/** The per-frequency factors Llama 3's rescaling divides RoPE frequency i of `half` by. */
export function llama3Factors(s: Llama3RopeScaling, theta: number, half: number): Float64Array {
  const low = s.originalMaxPositions / s.lowFreqFactor,
    high = s.originalMaxPositions / s.highFreqFactor;
  return Float64Array.from({ length: half }, (_, i) => {
    const wavelen = 2 * Math.PI * theta ** ((2 * i) / (2 * half));
    if (wavelen < high) return 1;
    if (wavelen > low) return s.factor;
    const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
    return 1 / ((1 - smooth) / s.factor + smooth);
  });
}

/**
 * Llama 3's rescaling from the `rope_freqs.weight` factors llama.cpp's converter stores: the
 * factor is their largest, the other constants Llama 3's (1, 4, 8192), and every factor must
 * match; `what` names the tensor when they do not.
 */
function llama3FromFactors(factors: Float32Array, theta: number, what: string): Llama3RopeScaling {
  const s: Llama3RopeScaling = {
    factor: factors.reduce((a, b) => Math.max(a, b), 1),
    lowFreqFactor: LLAMA3_LOW,
    highFreqFactor: LLAMA3_HIGH,
    originalMaxPositions: LLAMA3_ORIGINAL,
  };
  const want = llama3Factors(s, theta, factors.length);
  if (!want.every((w, i) => Math.abs(w - factors[i]) <= 1e-5 * w))
    throw new Error(
      `${what}: the RoPE factors are not Llama 3's rescaling (low_freq_factor 1, high_freq_factor 4, original context 8192)`,
    );
  return s;
}

/**
 * The config a GGUF file's metadata describes; `vocabRows` (the embedding's rows) stands in for
 * a missing vocab_size, `tied` says the file has no output.weight, `ropeFreqs` are the values of
 * a rope_freqs.weight tensor (Llama 3's rescaled RoPE). Errors name the file and key.
 */
export function configFromGguf(
  meta: ReadonlyMap<string, MetaValue>,
  where: string,
  vocabRows: number,
  tied: boolean,
  ropeFreqs?: Float32Array,
): LlamaConfig {
  const arch = meta.get('general.architecture');
  if (typeof arch !== 'string' || !Object.hasOwn(ARCHITECTURES, arch))
    throw new Error(
      `${where}: key general.architecture is ${JSON.stringify(arch)}, not one of ${Object.keys(ARCHITECTURES).join(', ')}`,
    );
  const family = ARCHITECTURES[arch];
  const num = (key: string, fallback?: number): number => {
    const v = meta.get(key) ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(
        `${where}: key ${key} ${v === undefined ? 'is missing' : `must be a number, got ${JSON.stringify(String(v))}`}`,
      );
    return v;
  };
  const a = (k: string) => `${arch}.${k}`;
  if (meta.has(a('rope.scaling.type')) && meta.get(a('rope.scaling.type')) !== 'none')
    throw new Error(
      `${where}: key ${a('rope.scaling.type')} ${JSON.stringify(meta.get(a('rope.scaling.type')))}: rescaled RoPE is not supported`,
    );
  const dim = num(a('embedding_length')),
    nHeads = num(a('attention.head_count'));
  const keyLength = meta.has(a('attention.key_length')) ? num(a('attention.key_length')) : undefined;
  // RoPE over part of each head (partial rotary) is not ours: every dimension of a head rotates here.
  const headDim = keyLength ?? dim / nHeads;
  if (meta.has(a('rope.dimension_count')) && num(a('rope.dimension_count')) !== headDim)
    throw new Error(
      `${where}: key ${a('rope.dimension_count')} ${num(a('rope.dimension_count'))}: RoPE over part of each head of ${headDim} is not supported`,
    );
  return validateConfig(
    {
      dim,
      nLayers: num(a('block_count')),
      nHeads,
      nKvHeads: num(a('attention.head_count_kv'), nHeads),
      vocabSize: num(a('vocab_size'), vocabRows),
      ffnDim: num(a('feed_forward_length')),
      normEps: num(a('attention.layer_norm_rms_epsilon')),
      ropeTheta: num(a('rope.freq_base'), 10000),
      tieEmbeddings: tied,
      maxSeqLen: num(a('context_length')),
      bosId: num('tokenizer.ggml.bos_token_id', -1),
      eosId: num('tokenizer.ggml.eos_token_id', -1),
      padId: num('tokenizer.ggml.padding_token_id', -1),
      ...(keyLength !== undefined && keyLength * nHeads !== dim ? { headSize: keyLength } : {}),
      ...(ropeFreqs
        ? {
            ropeScaling: llama3FromFactors(
              ropeFreqs,
              num(a('rope.freq_base'), 10000),
              `${where}: tensor rope_freqs.weight`,
            ),
          }
        : {}),
      ...(family === 'llama' ? {} : { family }),
      ...(family === 'qwen2' ? { qkvBias: true } : {}),
      ...(family === 'qwen3' ? { qkNorm: true } : {}),
    },
    where,
  );
}

/** The GGUF architecture of a config; `where` names the source when it has none (Mistral's window). */
export function ggufArchitecture(c: LlamaConfig, where: string): string {
  if (c.slidingWindow !== undefined) throw new Error(`${where}: a sliding-window model is not written to GGUF`);
  return c.family === 'mistral' ? 'llama' : (c.family ?? 'llama');
}

/** The metadata keys of a config (the architecture's and the special ids). */
export function configToGguf(c: LlamaConfig, where: string): [string, TypedValue][] {
  const arch = ggufArchitecture(c, where),
    u32 = (value: number) => ({ type: 'u32', value }) as const;
  const out: [string, TypedValue][] = [
    ['general.architecture', { type: 'string', value: arch }],
    [`${arch}.vocab_size`, u32(c.vocabSize)],
    [`${arch}.context_length`, u32(c.maxSeqLen)],
    [`${arch}.embedding_length`, u32(c.dim)],
    [`${arch}.block_count`, u32(c.nLayers)],
    [`${arch}.feed_forward_length`, u32(c.ffnDim)],
    [`${arch}.attention.head_count`, u32(c.nHeads)],
    [`${arch}.attention.head_count_kv`, u32(c.nKvHeads)],
    [`${arch}.attention.key_length`, u32(headDim(c))],
    [`${arch}.attention.value_length`, u32(headDim(c))],
    [`${arch}.rope.dimension_count`, u32(headDim(c))],
    [`${arch}.rope.freq_base`, { type: 'f32', value: c.ropeTheta }],
    [`${arch}.attention.layer_norm_rms_epsilon`, { type: 'f32', value: c.normEps }],
  ];
  for (const [key, id] of [
    ['bos', c.bosId],
    ['eos', c.eosId],
    ['padding', c.padId],
  ] as const)
    if (id >= 0) out.push([`tokenizer.ggml.${key}_token_id`, u32(id)]);
  return out;
}
