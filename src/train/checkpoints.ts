/**
 * What the training loop asks of checkpoints, with no file system behind it: where a run stands,
 * the settings that decide its samples, and the hooks that resume and save it. run_mindformer
 * hands the loop files under output/checkpoint (run_checkpoints.ts); the library's finetune, which
 * also runs in browsers, hands it none.
 */
import type { Trainable } from '../model/weights.ts';
import type { Core } from '../runtime/core.ts';

/** Where a run stands: enough to continue it exactly. */
export interface TrainPosition {
  /** 1-based epoch of the last finished step */
  epoch: number;
  /** 1-based step within that epoch */
  stepInEpoch: number;
  /** optimizer steps done in the whole run */
  globalStep: number;
}

/** A run's start: nothing done yet. */
export const START: TrainPosition = Object.freeze({ epoch: 1, stepInEpoch: 0, globalStep: 0 });

/**
 * What decides which records each step reads: a run resumed with other values would skip or
 * repeat samples (the number of records used is `records`, after --num_samples).
 */
export interface SampleSettings {
  batch_size: number;
  gradient_accumulation_steps: number;
  data_parallel: number;
  records: number;
  seed: number;
  shuffle: boolean;
}

/** The tensors a checkpoint holds (with their AdamW moments) and the run's sample settings. */
export interface CheckpointedState {
  core: Core;
  trainable: readonly Trainable[];
  settings: SampleSettings;
}

/** How a run resumes and saves. */
export interface TrainCheckpoints {
  /**
   * Called once before the first step: restores the tensors and moments of the step to go on
   * from and returns it (START to begin afresh). `totalSteps` is the run's last global step.
   */
  resume(at: CheckpointedState & { totalSteps: number }): TrainPosition;
  /** saving, when the run saves: after every `every`-th global step and after the last */
  saves?: {
    every: number;
    /** saves the state at `pos`; resolves to the checkpoint's name once it may be resumed from */
    save(at: CheckpointedState & { pos: TrainPosition }): Promise<string>;
  };
}
