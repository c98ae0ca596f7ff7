/**
 * Which records a rank reads in one epoch: all record numbers, shuffled by the project's seeded
 * generator for (seed, epoch) when shuffling is on, then dealt round-robin to the ranks, each
 * rank's share cut to floor(n / ranks) so that every rank takes the same number of steps.
 */
import { Rng } from '../runtime/random.ts';

/** How to order one epoch for one rank. */
export interface EpochOrderOptions {
  seed: number;
  epoch: number;
  shuffle: boolean;
  rank: number;
  ranks: number;
}

/** The record numbers rank `rank` reads in `epoch`, in order. */
export function epochOrder(records: number, { seed, epoch, shuffle, rank, ranks }: EpochOrderOptions): Uint32Array {
  if (!Number.isInteger(ranks) || ranks < 1 || !Number.isInteger(rank) || rank < 0 || rank >= ranks) {
    throw new Error(`rank ${rank} of ${ranks}: expected 0 ≤ rank < ranks`);
  }
  const all = new Uint32Array(records);
  for (let i = 0; i < records; i++) all[i] = i;
  if (shuffle) {
    const rng = new Rng((seed + Math.imul(epoch, 0x9e3779b9)) | 0);
    for (let i = records - 1; i > 0; i--) {
      // Fisher–Yates
      const j = rng.int(i + 1);
      const t = all[i];
      all[i] = all[j];
      all[j] = t;
    }
  }
  const share = Math.floor(records / ranks);
  const mine = new Uint32Array(share);
  for (let k = 0; k < share; k++) mine[k] = all[k * ranks + rank];
  return mine;
}
