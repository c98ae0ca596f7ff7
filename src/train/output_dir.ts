/**
 * A run's claim on its output_dir before it writes there: the folder's lock (one run at a time:
 * src/data/folder_lock.ts), the temporaries that stopped processes left in the folders the run
 * writes swept away, and a new training run refused where checkpoints of another run lie, so
 * that runs never mix. In an msrun_launcher job rank 0 claims the folder for the job while the
 * other ranks wait, so that no rank writes into a folder the job does not hold.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../config/types.ts';
import { sweepTemporaries } from '../io/atomic.ts';
import { lockFolder } from '../data/folder_lock.ts';
import { rankLogger, type RankContext } from './session.ts';

/** The checkpoint/rank_<r> folders under an output_dir, relative to it. */
function checkpointFolders(outputDir: string): string[] {
  const root = join(outputDir, 'checkpoint');
  if (!existsSync(root)) return [];
  return readdirSync(root)
    .filter((f) => /^rank_\d+$/.test(f))
    .map((f) => join('checkpoint', f));
}

/** Throws one line if output_dir holds checkpoints (a new run would mix with them). */
function refuseCheckpoints(outputDir: string): void {
  const found = checkpointFolders(outputDir).flatMap((d) =>
    readdirSync(join(outputDir, d))
      .filter((f) => f.endsWith('.safetensors'))
      .sort()
      .map((f) => join(d, f)),
  );
  if (found.length) {
    throw new Error(
      `${outputDir} already holds checkpoints (${found[0]}, ${found.length} in all): ` +
        'give --resume_training True to continue that run, or another --output_dir (or remove the folder) to start afresh',
    );
  }
}

/**
 * Claims `c.output_dir` for this run (see the file comment; every rank of a job calls it) and
 * returns the release, which a rank of a job leaves to the launcher.
 */
export function claimOutputDir(c: RunConfig, rank?: RankContext): () => void {
  let release = () => {};
  if (!rank || rank.job.rank === 0) {
    release = lockFolder(c.output_dir, '--output_dir');
    try {
      const swept = [c.output_dir, ...checkpointFolders(c.output_dir).map((d) => join(c.output_dir, d))].flatMap(
        (dir) => sweepTemporaries(dir).map((name) => join(dir, name)),
      );
      if (swept.length) rankLogger(c, 0, false)(`removed what a stopped run left half written: ${swept.join(', ')}`);
      if ((c.run_mode === 'train' || c.run_mode === 'finetune') && c.resume_training === false)
        refuseCheckpoints(c.output_dir);
    } catch (err) {
      release();
      throw err;
    }
  }
  rank?.collective.barrier();
  return release;
}
