/**
 * The names the commands take for the storage of frozen base weights (`--dtype`,
 * `param_init_type`, `logits --weight_dtype`): f32 (float32), bf16 (bfloat16), int8 with a scale
 * per row, llama.cpp's blocks q8_0, q4_0, q5_0, q4_1, q5_1 (32 values) and q4_k, q5_k, q6_k (256 values), and `stored`:
 * each matrix as the checkpoint stores it (checkpoint/stored_types.ts).
 */
import { WeightType } from '../runtime/kernels.ts';
import type { WeightOptions } from './weights.ts';

/** Weight storage by name. */
export const WEIGHT_DTYPES: Readonly<Record<string, WeightType>> = {
  f32: WeightType.F32,
  float32: WeightType.F32,
  bf16: WeightType.BF16,
  bfloat16: WeightType.BF16,
  int8: WeightType.I8,
  q8_0: WeightType.Q8_0,
  q4_0: WeightType.Q4_0,
  q5_0: WeightType.Q5_0,
  q4_1: WeightType.Q4_1,
  q5_1: WeightType.Q5_1,
  q4_k: WeightType.Q4_K,
  q5_k: WeightType.Q5_K,
  q6_k: WeightType.Q6_K,
};

/** The name of the storage that keeps each matrix as the checkpoint stores it. */
export const STORED = 'stored';

/** Every name a storage flag or key takes. */
export const WEIGHT_DTYPE_NAMES: readonly string[] = [...Object.keys(WEIGHT_DTYPES), STORED];

/**
 * The storage a model read from `checkpoint` gets when none is asked for: `stored` for a GGUF
 * file (its blocks as they are, as llama.cpp runs it), f32 for every other checkpoint.
 */
export function defaultDtype(checkpoint: string): typeof STORED | 'f32' {
  return checkpoint.endsWith('.gguf') ? STORED : 'f32';
}

/**
 * The weight options a storage name stands for (`stored`: asStored, the types coming from the
 * checkpoint when it loads); `what` (a flag or key) names it in the error for any other name.
 */
export function weightStorage(name: string, what: string): Pick<WeightOptions, 'weightType' | 'asStored'> {
  if (name === STORED) return { weightType: WeightType.F32, asStored: true };
  if (!Object.hasOwn(WEIGHT_DTYPES, name))
    throw new Error(`${what} ${JSON.stringify(name)}: expected ${WEIGHT_DTYPE_NAMES.join(', ')}`);
  return { weightType: WEIGHT_DTYPES[name] };
}
