/**
 * The checkpoints of a run_mindformer training run, as the trainer takes them: with a
 * CheckpointMonitor callback, a save under output/checkpoint/rank_<r>/ every save_checkpoint_steps
 * global steps (state.ts), after which every rank of the job waits for the others before pruning
 * its older files (so that a job stopped at any moment leaves a step all ranks hold); and, with
 * --resume_training, the step the ranks agree on (resume.ts).
 */
import type { RunConfig } from '../config/types.ts';
import type { Collectives } from '../parallel/collective.ts';
import { START, type TrainCheckpoints } from './checkpoints.ts';
import type { Faults } from './faults.ts';
import { resumeTraining } from './resume.ts';
import { checkpointDir, pruneCheckpoints, saveTrainingCheckpoint } from './state.ts';

/** What a rank's checkpoints depend on. */
export interface RunCheckpointOptions {
  config: RunConfig;
  /** this rank of the job (its checkpoint folder) */
  rank: number;
  /** every rank of the job (absent for one process) */
  job?: Collectives;
  /** failures to inject halfway through a save (tests) */
  faults?: Faults;
  /** the rank's log (the lines of resuming) */
  log: (line: string) => void;
}

/** The CheckpointMonitor callback's settings, or none. */
function checkpointSettings(c: RunConfig): { prefix: string; every: number; keep: number } | undefined {
  const cb = c.callbacks.find((x) => x.type === 'CheckpointMonitor');
  return cb && cb.type === 'CheckpointMonitor'
    ? { prefix: cb.prefix, every: cb.save_checkpoint_steps, keep: cb.keep_checkpoint_max }
    : undefined;
}

/** The rank's checkpoints as the config asks for them (see the file comment). */
export function runCheckpoints(o: RunCheckpointOptions): TrainCheckpoints {
  const c = o.config,
    ckpt = checkpointSettings(c),
    dir = checkpointDir(c.output_dir, o.rank);
  return {
    resume: ({ core, trainable, settings, totalSteps }) =>
      c.resume_training === false
        ? START
        : resumeTraining(core, trainable, {
            resume: c.resume_training,
            dir,
            rank: o.rank,
            prefix: ckpt?.prefix,
            job: o.job,
            firstSave: ckpt ? Math.min(ckpt.every, totalSteps) : 0,
            settings,
            log: o.log,
          }),
    saves: ckpt && {
      every: ckpt.every,
      async save({ core, trainable, pos, settings }) {
        const file = await saveTrainingCheckpoint(core, trainable, dir, ckpt.prefix, o.rank, pos, settings, o.faults);
        o.job?.barrier(); // every rank holds this step before any removes an older one
        pruneCheckpoints(dir, ckpt.prefix, o.rank, ckpt.keep, file);
        return file;
      },
    },
  };
}
