/**
 * The data-parallel side of a training rank: every rank reads its own records, the loss is
 * divided by the counted positions of all ranks together, and the gradients are summed over the
 * ranks, so N ranks with batch b step exactly as one rank with batch N·b (up to rounding).
 */
import type { Core } from '../runtime/core.ts';
import type { Trainable } from '../model/weights.ts';
import { AllReduce, type Collectives } from './collective.ts';

/** Sums over the ranks, of numbers and of the gradients. */
export class DataParallel {
  private constructor(
    private readonly collective: Collectives,
    private readonly grads: AllReduce,
  ) {}

  /** Sets up the gradient all-reduce over `trainable` among the data-parallel group (a collective: every rank calls it). */
  static create(collective: Collectives, core: Core, trainable: Trainable[]): DataParallel {
    const offsets = collective.allGather(trainable.map((t) => t.grad));
    return new DataParallel(
      collective,
      new AllReduce(
        collective,
        core,
        offsets,
        trainable.map((t) => t.n),
      ),
    );
  }

  /** The sum of `value` over the ranks. */
  sum(value: number): number {
    return this.collective.sum([value])[0];
  }

  /** Replaces every rank's gradients by their sum over the ranks. */
  reduceGrads(): void {
    this.grads.run();
  }
}
