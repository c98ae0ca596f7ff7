/**
 * A rank of an msrun_launcher job: a worker thread that runs one command (run_mindformer) with
 * the job in its worker data, then reports to the launcher how it ended. Its stdout and stderr
 * are written to the rank's worker log as they come (a worker's own streams reach the launcher
 * only when its event loop is free, which a training loop never leaves it). The paths it must
 * not leave behind (temporaries being written, its output folder's lock) are reported to the
 * launcher, which removes them when the job ends: a thread gets no signals, and a stopped one
 * runs no cleanup of its own.
 */
import { openSync, writeSync } from 'node:fs';
import { format } from 'node:util';
import { parentPort, workerData } from 'node:worker_threads';
import { handLeftoversTo } from '../io/atomic.ts';
import { CollectiveTimeout } from '../parallel/collective.ts';
import type { LeftoverMessage, RankData, RankReport } from '../parallel/job.ts';
import { commands } from './index.ts';

const { command, argv, logPath } = workerData as RankData;
const log = openSync(logPath, 'a');
for (const stream of [process.stdout, process.stderr]) {
  stream.write = ((
    chunk: string | Uint8Array,
    encoding?: BufferEncoding | ((err?: Error) => void),
    done?: (err?: Error) => void,
  ) => {
    writeSync(
      log,
      typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk,
    );
    (typeof encoding === 'function' ? encoding : done)?.();
    return true;
  }) as typeof stream.write;
}
// Deno's console writes past process.stdout, so the console is redirected too.
for (const level of ['log', 'info', 'debug', 'warn', 'error'] as const)
  console[level] = (...args: unknown[]) => void writeSync(log, format(...args) + '\n');
const report = (r: RankReport) => parentPort!.postMessage(r);
const leftover = (path: string, held: boolean) =>
  parentPort!.postMessage({ type: 'leftover', path, held } satisfies LeftoverMessage);
handLeftoversTo({ add: (path) => leftover(path, true), remove: (path) => leftover(path, false) });
try {
  const { main } = await commands[command].load();
  report({ type: 'done', code: await main(argv) });
} catch (err) {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`${command}: ${message}`);
  report({ type: 'failed', message, missing: err instanceof CollectiveTimeout ? err.missing : undefined });
}
