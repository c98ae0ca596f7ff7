/**
 * The names the commands take for the storage of frozen base weights (`--dtype`,
 * `param_init_type`, `logits --weight_dtype`): f32 (float32), bf16 (bfloat16), int8 with a scale
 * per row, and llama.cpp's blocks q8_0, q4_0 (32 values) and q4_k, q6_k (256 values).
 */
import { WeightType } from '../runtime/kernels.ts';

/** Weight storage by name. */
export const WEIGHT_DTYPES: Readonly<Record<string, WeightType>> = {
  f32: WeightType.F32,
  float32: WeightType.F32,
  bf16: WeightType.BF16,
  bfloat16: WeightType.BF16,
  int8: WeightType.I8,
  q8_0: WeightType.Q8_0,
  q4_0: WeightType.Q4_0,
  q4_k: WeightType.Q4_K,
  q6_k: WeightType.Q6_K,
};

/** The storage a name stands for; `what` (a flag or key) names it in the error for any other name. */
export function weightDtype(name: string, what: string): WeightType {
  if (!Object.hasOwn(WEIGHT_DTYPES, name))
    throw new Error(`${what} ${JSON.stringify(name)}: expected ${Object.keys(WEIGHT_DTYPES).join(', ')}`);
  return WEIGHT_DTYPES[name];
}
