/**
 * AdamW over a model's trainable tensors (f32 state). MindFormers' FP32StateAdamWeightDecay has
 * no bias correction; PyTorch's AdamW has it: `biasCorrection` picks.
 */
import type { Core } from '../runtime/core.ts';
import type { Trainable } from '../model/weights.ts';

/** Optimizer settings (the seed's optimizer block). */
export interface AdamWConfig {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  biasCorrection: boolean;
}

/** The seed's values: beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0, no bias correction. */
export const SEED_ADAMW: AdamWConfig = {
  lr: 1e-5,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
  biasCorrection: false,
};

/** Step number `step` (from 1) of AdamW over every tensor, at learning rate `lr`. */
export function adamwStep(core: Core, tensors: readonly Trainable[], o: AdamWConfig, step: number, lr = o.lr): void {
  const bc1 = o.biasCorrection ? 1 - o.beta1 ** step : 1,
    bc2 = o.biasCorrection ? 1 - o.beta2 ** step : 1;
  for (const t of tensors) {
    core.kernels.adamw(t.ptr, t.grad, t.m, t.v, t.n, {
      lr,
      beta1: o.beta1,
      beta2: o.beta2,
      eps: o.eps,
      weightDecay: o.weightDecay,
      bc1,
      bc2,
    });
  }
}

/** √Σ g² over every tensor's gradient (f64 sums). */
export function globalGradNorm(core: Core, tensors: readonly Trainable[]): number {
  let s = 0;
  for (const t of tensors) s += core.kernels.sumSquares(t.grad, t.n);
  return Math.sqrt(s);
}

/** Scales every gradient by `factor` (averaging accumulated micro-batches, clipping). */
export function scaleGrads(core: Core, tensors: readonly Trainable[], factor: number): void {
  if (factor === 1) return;
  for (const t of tensors) core.kernels.scale(t.grad, t.n, factor);
}
