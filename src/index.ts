/** wasmformers as a library: the compute core and its kernels. */
export { loadCore, relaxedSupported, type Core, type CoreKind, type CoreOptions } from './runtime/core.ts';
export { Arena, MAX_MEMORY_BYTES } from './runtime/arena.ts';
export { Kernels, WeightType } from './runtime/kernels.ts';
