/** wasmformers as a library: the compute core, the tokenizer, the data pipeline's reader, the model and decoding. */
export { loadCore, relaxedSupported, type Core, type CoreKind, type CoreOptions } from './runtime/core.ts';
export { Arena, MAX_MEMORY_BYTES } from './runtime/arena.ts';
export { Kernels, WeightType, weightBytes, MAX_HEAD_DIM, MAX_DECODE_POSITIONS, type AdamWStep } from './runtime/kernels.ts';
export { Rng } from './runtime/random.ts';
export { loadTokenizer } from './tokenizer/load.ts';
export { LlamaTokenizer } from './tokenizer/llama.ts';
export { ShardDataset } from './data/shard_reader.ts';
export { epochOrder } from './data/sampler.ts';
export { configFromHF, configFromMindFormers, type LlamaConfig } from './model/config.ts';
export { LlamaModel, type ModelOptions, type KVCache } from './model/llama.ts';
export { memoryPlan, formatPlan } from './model/plan.ts';
export { generate, type GenerateOptions } from './generate/generate.ts';
export { loadModel, openCheckpoint } from './checkpoint/load.ts';
