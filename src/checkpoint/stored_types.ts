/**
 * `--dtype stored`: each frozen matrix kept as the checkpoint stores it, nothing rounded again. A
 * GGUF file's block matrices (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K, Q3_K) keep their blocks
 * (a Q4_K_M file keeps its mix of Q4_K, Q6_K and Q5_0, a Q5_K_M file its Q5_K, Q6_K and Q5_1),
 * BF16 matrices stay bf16, and F32 and F16 ones become f32 (f16 values are exact in f32, not in bf16).
 */
import { WeightType } from '../runtime/kernels.ts';
import type { LlamaConfig } from '../model/config.ts';
import { baseTensorList, type WeightOptions } from '../model/weights.ts';
import type { GgmlType } from './gguf/format.ts';

/** The weight type a matrix stored as `type` (a ggml or safetensors type name) is kept in. */
const KEPT_AS: Partial<Record<string, WeightType>> = {
  BF16: WeightType.BF16,
  Q8_0: WeightType.Q8_0,
  Q4_0: WeightType.Q4_0,
  Q5_0: WeightType.Q5_0,
  Q4_1: WeightType.Q4_1,
  Q5_1: WeightType.Q5_1,
  Q4_K: WeightType.Q4_K,
  Q5_K: WeightType.Q5_K,
  Q6_K: WeightType.Q6_K,
  Q3_K: WeightType.Q3_K,
} satisfies Partial<Record<GgmlType, WeightType>>;

/**
 * The storage of the frozen matrices of a model of `config` that keeps them as its checkpoint
 * stores them (`storedAs`: a tensor's ggml or safetensors type by name, undefined when absent):
 * each base matrix's type by name (matrixTypes), and the type holding the most values as
 * weightType (what the logs name; no matrix takes it unless it is its own).
 */
export function storedWeightTypes(
  config: LlamaConfig,
  storedAs: (name: string) => string | undefined,
): Required<Pick<WeightOptions, 'weightType' | 'matrixTypes'>> {
  const matrixTypes: Record<string, WeightType> = {},
    values = new Map<WeightType, number>();
  for (const { name, shape } of baseTensorList(config)) {
    if (shape.length !== 2) continue;
    const t = KEPT_AS[storedAs(name) ?? 'F32'] ?? WeightType.F32;
    matrixTypes[name] = t;
    values.set(t, (values.get(t) ?? 0) + shape[0] * shape[1]);
  }
  const weightType = [...values].reduce((a, b) => (b[1] > a[1] ? b : a), [WeightType.F32, 0])[0];
  return { weightType, matrixTypes };
}
