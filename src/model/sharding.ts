/**
 * Model parallelism inside the model (Megatron-style, as MindFormers splits Llama): a rank holds
 * its share of the heads and of the FFN width. Column-parallel linears (wq wk wv w1 w3) keep a
 * slice of their output rows, row-parallel ones (wo w2) a slice of their input columns, whose
 * partial outputs the ranks sum. A LoRA adapter follows its linear: B [out, r] is sliced with a
 * column-parallel weight's rows, A [r, in] with a row-parallel weight's columns, and the other
 * factor is whole on every rank (its gradient is a sum over the ranks). Norms, the embedding
 * and the head are whole on every rank.
 */
import type { LlamaConfig } from './config.ts';
import { headDim } from './config.ts';
import type { LinearKind } from './lora.ts';

/** A model-parallel rank: slice `index` of `parts`. */
export interface ModelShare {
  parts: number;
  index: number;
}

const COLUMN_PARALLEL: ReadonlySet<LinearKind> = new Set(['wq', 'wk', 'wv', 'w1', 'w3']);

/** The axis of a linear's weight (or of its LoRA factor) that ranks hold slices of; undefined: whole. */
export function shardAxis(kind: LinearKind, factor?: 'A' | 'B'): 0 | 1 | undefined {
  const column = COLUMN_PARALLEL.has(kind);
  if (factor === 'A') return column ? undefined : 1;
  if (factor === 'B') return column ? 0 : undefined;
  return column ? 0 : 1;
}

/** The config of one rank's share: H/parts heads of the same size, KVH/parts key-value heads, F/parts FFN width. */
export function rankShare(c: LlamaConfig, parts: number, where: string): LlamaConfig {
  if (c.qkvBias && parts > 1)
    throw new Error(`${where}: q/k/v biases (Qwen2) are not split across model_parallel ranks; use model_parallel 1`);
  for (const [what, n] of [
    ['num_heads', c.nHeads],
    ['n_kv_heads', c.nKvHeads],
    ['FFN width', c.ffnDim],
  ] as const) {
    if (n % parts !== 0) throw new Error(`${where}: ${what} ${n} does not divide into model_parallel ${parts} slices`);
  }
  return {
    ...c,
    nHeads: c.nHeads / parts,
    nKvHeads: c.nKvHeads / parts,
    ffnDim: c.ffnDim / parts,
    headSize: headDim(c),
  };
}

/** Slice `share.index` along `axis` of a row-major [rows, cols] matrix of the whole model. */
export function sliceMatrix(
  values: Float32Array,
  rows: number,
  cols: number,
  axis: 0 | 1,
  share: ModelShare,
): Float32Array {
  if (axis === 0) {
    const n = (rows / share.parts) * cols;
    return values.slice(share.index * n, (share.index + 1) * n);
  }
  const w = cols / share.parts,
    out = new Float32Array(rows * w);
  for (let r = 0; r < rows; r++)
    out.set(values.subarray(r * cols + share.index * w, r * cols + (share.index + 1) * w), r * w);
  return out;
}
