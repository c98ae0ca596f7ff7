/**
 * The shape of a Llama model, read from a Hugging Face `config.json` or from the
 * `model.model_config` block of a MindFormers YAML (SPEC.md §5).
 */

/** Llama 3's RoPE rescaling (Hugging Face `rope_scaling` of type llama3). */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  /** the context length the frequencies were trained for */
  originalMaxPositions: number;
}

/** The Hugging Face model_type a config came from; it says which of the differences below apply. */
export type ModelFamily = 'llama' | 'mistral' | 'qwen2' | 'qwen3';

/**
 * Everything the model code needs to know about a Llama-family architecture. The optional keys
 * are the differences of the other families: Llama 3's rescaled RoPE, Qwen2's q/k/v bias,
 * Qwen3's per-head q/k RMSNorm with an explicit head dimension, Mistral's sliding window.
 */
export interface LlamaConfig {
  /** hidden size D */
  dim: number;
  nLayers: number;
  /** query heads H */
  nHeads: number;
  /** key/value heads KVH (H % KVH == 0; KVH < H is grouped-query attention) */
  nKvHeads: number;
  vocabSize: number;
  /** FFN inner size F */
  ffnDim: number;
  normEps: number;
  ropeTheta: number;
  /** the LM head shares the embedding table */
  tieEmbeddings: boolean;
  /** longest sequence (positions) the model is meant for */
  maxSeqLen: number;
  bosId: number;
  eosId: number;
  /** the id whose positions the loss skips as inputs (SPEC §5); -1 when the model has none */
  padId: number;
  /** head dimension when it is not dim / nHeads (Qwen3's head_dim, or a model-parallel rank's share of the heads) */
  headSize?: number;
  /** model_type (llama when absent) */
  family?: ModelFamily;
  /** Llama 3 RoPE frequencies (none: plain theta^(−2i/hd)) */
  ropeScaling?: Llama3RopeScaling;
  /** bias vectors on the q, k and v projections (Qwen2) */
  qkvBias?: boolean;
  /** RMSNorm (weight [hd], eps normEps) over each head of q and k before RoPE (Qwen3) */
  qkNorm?: boolean;
  /** attention sees only the last slidingWindow positions (Mistral); longer sequences are refused */
  slidingWindow?: number;
}

/** Head dimension D / H. */
export function headDim(c: LlamaConfig): number {
  return c.headSize ?? c.dim / c.nHeads;
}

/** MindFormers' FFN rule: multiple_of·ceil(int(int(2·4D/3)·multiplier)/multiple_of). */
export function ffnDimFor(dim: number, multipleOf: number, ffnDimMultiplier?: number | null): number {
  let hidden = Math.trunc((2 * 4 * dim) / 3);
  if (ffnDimMultiplier) hidden = Math.trunc(ffnDimMultiplier * hidden);
  return multipleOf * Math.ceil(hidden / multipleOf);
}

type Json = Record<string, unknown>;

function num(src: Json, key: string, where: string, fallback?: number): number {
  const v = src[key];
  if (v === undefined || v === null) {
    if (fallback !== undefined) return fallback;
    throw new Error(`${where}: missing key ${key}`);
  }
  if (typeof v !== 'number' || !Number.isFinite(v))
    throw new Error(`${where}: ${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

function int(src: Json, key: string, where: string, fallback?: number): number {
  const v = num(src, key, where, fallback);
  if (!Number.isInteger(v)) throw new Error(`${where}: ${key} must be an integer, got ${v}`);
  return v;
}

/** Checks the numbers fit together; errors name the source and the keys. */
export function validateConfig(c: LlamaConfig, where: string): LlamaConfig {
  const positive: (keyof LlamaConfig)[] = ['dim', 'nLayers', 'nHeads', 'nKvHeads', 'vocabSize', 'ffnDim', 'maxSeqLen'];
  for (const k of positive)
    if (!((c[k] as number) > 0)) throw new Error(`${where}: ${k} must be positive, got ${c[k]}`);
  if (c.headSize === undefined && c.dim % c.nHeads !== 0)
    throw new Error(`${where}: hidden size ${c.dim} is not a multiple of the ${c.nHeads} heads`);
  if (c.nHeads % c.nKvHeads !== 0)
    throw new Error(`${where}: ${c.nHeads} heads cannot share ${c.nKvHeads} key/value heads`);
  if (headDim(c) % 2 !== 0) throw new Error(`${where}: head dimension ${headDim(c)} must be even for RoPE`);
  if (!(c.normEps > 0)) throw new Error(`${where}: rms_norm_eps must be positive`);
  if (!(c.ropeTheta > 0)) throw new Error(`${where}: theta must be positive`);
  const r = c.ropeScaling;
  if (r && !(r.factor > 0 && r.lowFreqFactor > 0 && r.highFreqFactor > r.lowFreqFactor && r.originalMaxPositions > 0)) {
    throw new Error(
      `${where}: rope_scaling needs factor > 0, 0 < low_freq_factor < high_freq_factor and original_max_position_embeddings > 0`,
    );
  }
  const family = c.family ?? 'llama';
  if ((family === 'qwen3') !== (c.qkNorm === true))
    throw new Error(`${where}: q/k norm goes with model_type qwen3 and only with it (model_type ${family})`);
  if ((family === 'qwen2') !== (c.qkvBias === true))
    throw new Error(`${where}: q/k/v bias goes with model_type qwen2 and only with it (model_type ${family})`);
  if (c.slidingWindow !== undefined && !(Number.isInteger(c.slidingWindow) && c.slidingWindow > 0))
    throw new Error(`${where}: sliding_window must be a positive integer, got ${c.slidingWindow}`);
  return c;
}

const FAMILIES: readonly ModelFamily[] = ['llama', 'mistral', 'qwen2', 'qwen3'];
const ARCHITECTURES: Record<ModelFamily, string> = {
  llama: 'LlamaForCausalLM',
  mistral: 'MistralForCausalLM',
  qwen2: 'Qwen2ForCausalLM',
  qwen3: 'Qwen3ForCausalLM',
};

/** Llama 3 rescaling from a `rope_scaling` object (type or rope_type llama3); other types are refused naming the key. */
function ropeScalingFromHF(v: unknown, where: string): Llama3RopeScaling | undefined {
  if (v === undefined || v === null) return undefined;
  const r = v as Json,
    type = r.rope_type ?? r.type;
  if (type === 'default') return undefined;
  if (type !== 'llama3')
    throw new Error(`${where}: rope_scaling of type ${JSON.stringify(type)} is not supported (only llama3)`);
  const key = `${where}: rope_scaling`;
  return {
    factor: num(r, 'factor', key),
    lowFreqFactor: num(r, 'low_freq_factor', key),
    highFreqFactor: num(r, 'high_freq_factor', key),
    originalMaxPositions: int(r, 'original_max_position_embeddings', key),
  };
}

/** The head dimension a config.json names, when it differs from hidden_size / num_attention_heads. */
function explicitHeadDim(src: Json, key: string, dim: number, nHeads: number, where: string): number | undefined {
  if (src[key] === undefined || src[key] === null) return undefined;
  const hd = int(src, key, where);
  return hd * nHeads === dim ? undefined : hd;
}

/**
 * Reads a Hugging Face `config.json` object of a Llama, Mistral, Qwen2 or Qwen3 model; `where`
 * names the file in errors. Qwen2 has bias on q, k and v (its config has no attention_bias
 * key; elsewhere that key also biases o_proj, and is refused); Qwen3 normalises q and k per head; a sliding window counts for
 * Mistral, and for Qwen only with use_sliding_window.
 */
export function configFromHF(src: Json, where: string): LlamaConfig {
  const mt = src.model_type ?? 'llama';
  if (!FAMILIES.includes(mt as ModelFamily))
    throw new Error(`${where}: model_type ${JSON.stringify(mt)} is not one of ${FAMILIES.join(', ')}`);
  const family = mt as ModelFamily;
  if (src.mlp_bias === true) throw new Error(`${where}: mlp_bias is not supported`);
  // Llama's and Qwen3's attention_bias also puts a bias on o_proj, which Qwen2 (bias on q, k, v only) never has.
  if (src.attention_bias === true && family !== 'qwen2')
    throw new Error(`${where}: attention_bias (a bias on q, k, v and o) is not supported; only Qwen2's q/k/v bias is`);
  if (src.hidden_act !== undefined && src.hidden_act !== 'silu')
    throw new Error(`${where}: hidden_act ${JSON.stringify(src.hidden_act)} is not silu`);
  const nHeads = int(src, 'num_attention_heads', where),
    dim = int(src, 'hidden_size', where);
  const windowed = family === 'mistral' || (family.startsWith('qwen') && src.use_sliding_window === true);
  const window =
    windowed && src.sliding_window !== null && src.sliding_window !== undefined
      ? int(src, 'sliding_window', where)
      : undefined;
  return validateConfig(
    {
      dim,
      nLayers: int(src, 'num_hidden_layers', where),
      nHeads,
      nKvHeads: int(src, 'num_key_value_heads', where, nHeads),
      vocabSize: int(src, 'vocab_size', where),
      ffnDim: int(src, 'intermediate_size', where),
      normEps: num(src, 'rms_norm_eps', where, 1e-6),
      ropeTheta: num(src, 'rope_theta', where, 10000),
      tieEmbeddings: src.tie_word_embeddings === true,
      maxSeqLen: int(src, 'max_position_embeddings', where, 2048),
      bosId: int(src, 'bos_token_id', where, 1),
      eosId: Array.isArray(src.eos_token_id)
        ? int({ eos_token_id: src.eos_token_id[0] }, 'eos_token_id', where)
        : int(src, 'eos_token_id', where, 2), // instruct models list several: the first
      // transformers' default: no pad token. Id 0 is a real token in tokenizer.json vocabularies
      // ("!" in Llama 3, Qwen and SmolLM2), whose following targets a pad of 0 would drop.
      padId: int(src, 'pad_token_id', where, -1),
      ...optional({
        headSize: explicitHeadDim(src, 'head_dim', dim, nHeads, where),
        family: family === 'llama' ? undefined : family,
        ropeScaling: ropeScalingFromHF(src.rope_scaling, where),
        qkvBias: family === 'qwen2' || undefined,
        qkNorm: family === 'qwen3' || undefined,
        slidingWindow: window,
      }),
    },
    where,
  );
}

/** The entries of `o` that are defined (so that configs without a family's extras compare equal to plain ones). */
function optional(o: Partial<LlamaConfig>): Partial<LlamaConfig> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

/** Llama 3 rescaling from MindFormers' `extend_method: LLAMA3` and its `scaling_factor` block. */
function ropeScalingFromMindFormers(src: Json, where: string): Llama3RopeScaling | undefined {
  const method = src.extend_method;
  if (method === undefined || method === null || method === 'None') return undefined;
  if (method !== 'LLAMA3')
    throw new Error(`${where}: extend_method ${JSON.stringify(method)} is not supported (only LLAMA3)`);
  const f = src.scaling_factor;
  if (typeof f !== 'object' || f === null)
    throw new Error(`${where}: extend_method LLAMA3 needs a scaling_factor block`);
  const key = `${where}.scaling_factor`,
    r = f as Json;
  return {
    factor: num(r, 'factor', key),
    lowFreqFactor: num(r, 'low_freq_factor', key),
    highFreqFactor: num(r, 'high_freq_factor', key),
    originalMaxPositions: int(r, 'original_max_position_embeddings', key),
  };
}

/**
 * Reads a MindFormers `model.model_config` block (already parsed from YAML); `where` names it in
 * errors. The families' differences use MindFormers' keys where it has them (qkv_has_bias;
 * extend_method LLAMA3 with a scaling_factor block; head_dim; qk_layernorm) and ours otherwise:
 * model_type (llama, mistral, qwen2, qwen3; what config.json is written as) and sliding_window.
 */
export function configFromMindFormers(src: Json, where: string): LlamaConfig {
  const dim = int(src, 'hidden_size', where);
  const nHeads = int(src, 'num_heads', where);
  const explicitFfn = src.intermediate_size;
  const ffnDim =
    typeof explicitFfn === 'number' && explicitFfn > 0
      ? explicitFfn
      : ffnDimFor(dim, int(src, 'multiple_of', where, 256), src.ffn_dim_multiplier as number | null | undefined);
  const mt = src.model_type ?? (src.qk_layernorm === true ? 'qwen3' : src.qkv_has_bias === true ? 'qwen2' : 'llama');
  if (!FAMILIES.includes(mt as ModelFamily))
    throw new Error(`${where}: model_type ${JSON.stringify(mt)} is not one of ${FAMILIES.join(', ')}`);
  return validateConfig(
    {
      dim,
      nLayers: int(src, 'num_layers', where),
      nHeads,
      nKvHeads: src.n_kv_heads === undefined || src.n_kv_heads === null ? nHeads : int(src, 'n_kv_heads', where),
      vocabSize: int(src, 'vocab_size', where),
      ffnDim,
      normEps: num(src, 'rms_norm_eps', where, 1e-5),
      ropeTheta: num(src, 'theta', where, 10000),
      tieEmbeddings: src.tie_word_embeddings === true,
      maxSeqLen: int(src, 'seq_length', where, 2048),
      bosId: int(src, 'bos_token_id', where, 1),
      eosId: int(src, 'eos_token_id', where, 2),
      padId: int(src, 'pad_token_id', where, 0),
      ...optional({
        headSize: explicitHeadDim(src, 'head_dim', dim, nHeads, where),
        family: mt === 'llama' ? undefined : (mt as ModelFamily),
        ropeScaling: ropeScalingFromMindFormers(src, where),
        qkvBias: mt === 'qwen2' || src.qkv_has_bias === true || undefined,
        qkNorm: mt === 'qwen3' || src.qk_layernorm === true || undefined,
        slidingWindow:
          src.sliding_window === undefined || src.sliding_window === null
            ? undefined
            : int(src, 'sliding_window', where),
      }),
    },
    where,
  );
}

/** A Hugging Face `config.json` object for a config (what we write next to saved weights; configFromHF reads it back the same). */
export function configToHF(c: LlamaConfig): Json {
  const family = c.family ?? 'llama',
    r = c.ropeScaling;
  return {
    architectures: [ARCHITECTURES[family]],
    model_type: family,
    hidden_size: c.dim,
    intermediate_size: c.ffnDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    head_dim: headDim(c),
    vocab_size: c.vocabSize,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieEmbeddings,
    max_position_embeddings: c.maxSeqLen,
    bos_token_id: c.bosId,
    eos_token_id: c.eosId,
    pad_token_id: c.padId < 0 ? null : c.padId,
    hidden_act: 'silu',
    rope_scaling: r
      ? {
          rope_type: 'llama3',
          factor: r.factor,
          low_freq_factor: r.lowFreqFactor,
          high_freq_factor: r.highFreqFactor,
          original_max_position_embeddings: r.originalMaxPositions,
        }
      : null,
    attention_bias: false, // Qwen2's q/k/v bias comes with its model_type
    sliding_window: c.slidingWindow ?? null,
    ...(family.startsWith('qwen') ? { use_sliding_window: c.slidingWindow !== undefined } : {}),
  };
}
