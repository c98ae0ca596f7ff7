/**
 * A rank of an msrun_launcher job: a worker thread that runs one command (run_mindformer) with
 * the job in its worker data, then reports to the launcher how it ended. Its stdout and stderr
 * go to the rank's worker log.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { commands } from '../commands/index.ts';
import { CollectiveTimeout } from './collective.ts';
import type { RankData } from './job.ts';

/** What a rank tells the launcher. */
export type RankReport = { type: 'done'; code: number } | { type: 'failed'; message: string; missing?: number[] };

const { command, argv } = workerData as RankData;
const report = (r: RankReport) => parentPort!.postMessage(r);
try {
  const { main } = await commands[command].load();
  report({ type: 'done', code: await main(argv) });
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`${command}: ${message}`);
  report({ type: 'failed', message, missing: err instanceof CollectiveTimeout ? err.missing : undefined });
}
