/** wasmformers as a library: the compute core and its kernels. */
export { loadCore, relaxedSupported, type Core, type CoreKind, type CoreOptions } from './runtime/core.ts';
export { Arena, MAX_MEMORY_BYTES } from './runtime/arena.ts';
export { Kernels, WeightType, weightBytes, MAX_HEAD_DIM, MAX_DECODE_POSITIONS, type AdamWStep } from './runtime/kernels.ts';
