/**
 * Where a resumed run starts (`--resume_training True` or a file name). Every rank of a job lists
 * the complete checkpoints it holds, the ranks agree on one global step (state.ts resumeStep:
 * the newest all hold, or the named file's), and each loads its own checkpoint of that step;
 * checkpoints past it (a rank that got ahead before the job was stopped) are removed, as the run
 * writes them anew. A checkpoint written with other sample settings is refused.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from '../runtime/core.ts';
import type { Trainable } from '../model/weights.ts';
import type { Collectives } from '../parallel/collective.ts';
import {
  describeHoldings,
  listCheckpoints,
  loadTrainingCheckpoint,
  readPosition,
  resumeStep,
  writeMeta,
  type RankHoldings,
} from './state.ts';
import { START, type SampleSettings, type TrainPosition } from './checkpoints.ts';

/** What a rank needs to resume. */
export interface ResumeOptions {
  resume: true | string;
  /** this rank's checkpoint folder, its rank and the checkpoints' prefix (any if the run saves none) */
  dir: string;
  rank: number;
  prefix?: string;
  /** every rank of the job (absent for one process) */
  job?: Collectives;
  /** the global step of the run's first save */
  firstSave: number;
  settings: SampleSettings;
  log: (line: string) => void;
}

/** Restores the trainable tensors and moments of the step the ranks agree on; returns the position (the start: step 0). */
export function resumeTraining(core: Core, trainable: readonly Trainable[], o: ResumeOptions): TrainPosition {
  const mine = listCheckpoints(o.dir, o.rank, o.prefix);
  const named = typeof o.resume === 'string' ? [o.resume, join(o.dir, o.resume)].find((p) => existsSync(p)) : undefined;
  const namedStep = named === undefined ? null : readPosition(named).globalStep;
  // One process may load a named file from anywhere; a rank of a job loads its own of that step.
  const own: RankHoldings = {
    steps: mine.map((s) => s.pos.globalStep).concat(!o.job && namedStep !== null ? [namedStep] : []),
    named: namedStep,
  };
  const all = o.job ? o.job.allGather(own) : [own];
  const step = resumeStep(all, o.resume, o.firstSave);
  const newer = mine.filter((s) => s.pos.globalStep > step);
  for (const s of newer) rmSync(s.path, { force: true });
  if (newer.length)
    o.log(`removed ${newer.map((s) => s.file).join(', ')}: past global step ${step}, which every rank resumes from`);
  const saved = mine.find((s) => s.pos.globalStep === step);
  writeMeta(o.dir, saved ?? mine.filter((s) => s.pos.globalStep < step).at(-1));
  if (step === 0) {
    o.log(
      `resuming from the start: no checkpoint is on every rank (${describeHoldings(all)}), and none is past the first save`,
    );
    return START;
  }
  const path = !o.job && named !== undefined ? named : saved!.path;
  const pos = loadTrainingCheckpoint(core, trainable, path, o.settings);
  o.log(`resuming from ${path}: epoch ${pos.epoch}, step ${pos.stepInEpoch}, global step ${pos.globalStep}`);
  return pos;
}
