/**
 * The shape of a Llama model, read from a Hugging Face `config.json` or from the
 * `model.model_config` block of a MindFormers YAML (SPEC.md §5).
 */

/** Everything the model code needs to know about a Llama architecture. */
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
  padId: number;
  /** head dimension when it is not dim / nHeads (a model-parallel rank's share of the heads) */
  headSize?: number;
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
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${where}: ${key} must be a number, got ${JSON.stringify(v)}`);
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
  for (const k of positive) if (!((c[k] as number) > 0)) throw new Error(`${where}: ${k} must be positive, got ${c[k]}`);
  if (c.dim % c.nHeads !== 0) throw new Error(`${where}: hidden size ${c.dim} is not a multiple of the ${c.nHeads} heads`);
  if (c.nHeads % c.nKvHeads !== 0) throw new Error(`${where}: ${c.nHeads} heads cannot share ${c.nKvHeads} key/value heads`);
  if (headDim(c) % 2 !== 0) throw new Error(`${where}: head dimension ${headDim(c)} must be even for RoPE`);
  if (!(c.normEps > 0)) throw new Error(`${where}: rms_norm_eps must be positive`);
  if (!(c.ropeTheta > 0)) throw new Error(`${where}: theta must be positive`);
  return c;
}

/** Reads a Hugging Face LlamaForCausalLM `config.json` object; `where` names the file in errors. */
export function configFromHF(src: Json, where: string): LlamaConfig {
  const mt = src.model_type;
  if (mt !== undefined && mt !== 'llama') throw new Error(`${where}: model_type ${JSON.stringify(mt)} is not llama`);
  if (src.rope_scaling !== undefined && src.rope_scaling !== null) throw new Error(`${where}: rope_scaling is not supported yet`);
  if (src.attention_bias === true || src.mlp_bias === true) throw new Error(`${where}: attention_bias/mlp_bias are not supported`);
  if (src.hidden_act !== undefined && src.hidden_act !== 'silu') throw new Error(`${where}: hidden_act ${JSON.stringify(src.hidden_act)} is not silu`);
  const nHeads = int(src, 'num_attention_heads', where);
  return validateConfig({
    dim: int(src, 'hidden_size', where),
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
    eosId: int(src, 'eos_token_id', where, 2),
    padId: int(src, 'pad_token_id', where, 0),
  }, where);
}

/** Reads a MindFormers `model.model_config` block (already parsed from YAML); `where` names it in errors. */
export function configFromMindFormers(src: Json, where: string): LlamaConfig {
  const dim = int(src, 'hidden_size', where);
  const nHeads = int(src, 'num_heads', where);
  const explicitFfn = src.intermediate_size;
  const ffnDim = typeof explicitFfn === 'number' && explicitFfn > 0
    ? explicitFfn
    : ffnDimFor(dim, int(src, 'multiple_of', where, 256), src.ffn_dim_multiplier as number | null | undefined);
  return validateConfig({
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
  }, where);
}

/** A Hugging Face `config.json` object for a config (what we write next to saved weights). */
export function configToHF(c: LlamaConfig): Json {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    hidden_size: c.dim,
    intermediate_size: c.ffnDim,
    num_hidden_layers: c.nLayers,
    num_attention_heads: c.nHeads,
    num_key_value_heads: c.nKvHeads,
    vocab_size: c.vocabSize,
    rms_norm_eps: c.normEps,
    rope_theta: c.ropeTheta,
    tie_word_embeddings: c.tieEmbeddings,
    max_position_embeddings: c.maxSeqLen,
    bos_token_id: c.bosId,
    eos_token_id: c.eosId,
    pad_token_id: c.padId,
    hidden_act: 'silu',
    rope_scaling: null,
    attention_bias: false,
  };
}
