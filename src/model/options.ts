/** The options a model is made with: its weights' (weights.ts) and how its steps run. */
import type { WeightOptions } from './weights.ts';

/** How generation feeds block-quantized weights their activations (ModelOptions.activations). */
export type Activations = 'int8' | 'f32';

/** The activations `value` names, or an error naming `where` (a flag or a key). */
export function parseActivations(value: string, where: string): Activations {
  if (value === 'int8' || value === 'f32') return value;
  throw new Error(`${where} ${JSON.stringify(value)}: expected int8 or f32`);
}

/** Model options beyond the weights. */
export interface ModelOptions extends WeightOptions {
  /** keep only each layer's input and recompute the rest in backward (memory flat in depth) */
  recompute?: boolean;
  /** seed of the LoRA initialisation and of the dropout stream */
  seed?: number;
  /** rows of logits computed at a time by the fused classifier and loss (256 by default) */
  logitsChunk?: number;
  /**
   * what generation (the KV-cache path) feeds block-quantized weights (Q8_0, Q4_0, Q5_0, Q4_K,
   * Q5_K, Q6_K): 'int8' (default) rounds the activations per block (of 32 values, or of 256 for
   * the super-blocks) and multiplies in integers, as llama.cpp does; 'f32' keeps them exact.
   * Training, eval and passes without a KV cache always use f32.
   */
  activations?: Activations;
}
