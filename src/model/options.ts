/** The options a model is made with: its weights' (weights.ts) and how its steps run. */
import type { WeightOptions } from './weights.ts';

/** Model options beyond the weights. */
export interface ModelOptions extends WeightOptions {
  /** keep only each layer's input and recompute the rest in backward (memory flat in depth) */
  recompute?: boolean;
  /** seed of the LoRA initialisation and of the dropout stream */
  seed?: number;
  /** rows of logits computed at a time by the fused classifier and loss (256 by default) */
  logitsChunk?: number;
}
