/**
 * Runs a command as N ranks of one job, each a worker thread with its own core over one shared
 * WebAssembly memory, and watches them: the first rank that fails (an error, running out of
 * memory, exiting early) or a signal stops every rank at once; ranks that do not all start
 * within the time-out fail the job. Nothing is left running when it returns, and nothing the
 * ranks asked it to remove at the end (temporaries of writes a stopped rank never finished,
 * the lock of their output folder) is left on disk. The caller gives the rank entry and turns
 * signals into `stop`.
 */
import { createWriteStream, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import type { Worker, WorkerOptions } from 'node:worker_threads';
import { makeFolders } from '../io/atomic.ts';
import { sharedCoreMemory } from '../runtime/core.ts';
import { abortCollectives, controlBytes } from './collective.ts';
import type { Job, LeftoverMessage, RankData, RankReport } from './job.ts';
import type { ShareMessage } from './share.ts';

/** What to launch. */
export interface LaunchOptions {
  command: string;
  argv: string[];
  workers: number;
  /** folder of worker_<rank>.log */
  logDir: string;
  /** CLUSTER_TIME_OUT: longest a rank waits for the others at a collective, in seconds */
  timeoutS: number;
  /** a line for the console */
  say: (line: string) => void;
  /** starts one rank's worker thread (the caller's entry, which runs `RankData.command` and reports a RankReport) */
  startRank: (options: WorkerOptions) => Worker;
  /** stops every rank when aborted; its reason, a signal name, is the failure's `signal` */
  stop?: AbortSignal;
}

/** Why a job stopped: a rank (with its log) or a signal. */
export interface LaunchFailure {
  message: string;
  rank?: number;
  log?: string;
  signal?: NodeJS.Signals;
}

/** Grace for a rank that has reported to end its thread before it is terminated, in ms. */
const EXIT_GRACE_MS = 5000;

/** Starts the ranks; resolves when all have finished (undefined) or all have been stopped (the failure). */
export async function launch(o: LaunchOptions): Promise<LaunchFailure | undefined> {
  makeFolders(o.logDir);
  const memory = sharedCoreMemory(),
    control = new SharedArrayBuffer(controlBytes(o.workers));
  const workers: Worker[] = [],
    logs: WriteStream[] = [],
    exited: Promise<void>[] = [];
  const leftovers = new Set<string>(); // paths the ranks hold, removed when the job ends
  let failure: LaunchFailure | undefined,
    finished = 0;
  let settle!: () => void;
  const settled = new Promise<void>((resolve) => (settle = resolve));
  const fail = (f: LaunchFailure) => {
    if (failure) return;
    failure = f;
    abortCollectives(control);
    for (const w of workers) void w.terminate();
    settle();
  };

  for (let rank = 0; rank < o.workers; rank++) {
    const logPath = join(o.logDir, `worker_${rank}.log`);
    o.say(
      `Start worker process with rank id:${rank}, log file:${logPath}. Environment variable [RANK_ID=${rank}] is exported.`,
    );
    writeFileSync(logPath, '');
    const log = createWriteStream(logPath, { flags: 'a' }); // anything the rank writes past its console
    const job: Job = { rank, ranks: o.workers, memory, control, timeoutMs: o.timeoutS * 1000 };
    const data: RankData = { job, command: o.command, argv: o.argv, logPath };
    const w = o.startRank({
      workerData: data,
      stdout: true,
      stderr: true,
      env: { ...process.env, RANK_ID: String(rank), RANK_SIZE: String(o.workers) },
    });
    w.stdout.pipe(log, { end: false });
    w.stderr.pipe(log, { end: false });
    let reported = false;
    w.on('message', (r: RankReport | ShareMessage | LeftoverMessage) => {
      if (r.type === 'share') {
        workers.forEach((other, k) => k !== rank && other.postMessage(r));
        return;
      }
      if (r.type === 'leftover') {
        if (r.held) leftovers.add(r.path);
        else leftovers.delete(r.path);
        return;
      }
      reported = true;
      if (r.type === 'failed' && r.missing?.length) {
        const stuck = r.missing[0];
        fail({
          rank: stuck,
          message: `the rank stopped responding (${r.message})`,
          log: join(o.logDir, `worker_${stuck}.log`),
        });
      } else if (r.type === 'failed') fail({ rank, message: r.message, log: logPath });
      else if (r.code !== 0) fail({ rank, message: `${o.command} ended with exit code ${r.code}`, log: logPath });
      else if (++finished === o.workers) settle();
    });
    w.on('error', (err) => fail({ rank, message: err.message, log: logPath }));
    exited.push(
      new Promise((resolve) =>
        w.on('exit', (code) => {
          if (!reported)
            fail({ rank, message: `the rank exited (code ${code}) before ${o.command} finished`, log: logPath });
          resolve();
        }),
      ),
    );
    workers.push(w);
    logs.push(log);
  }

  const onStop = () => {
    const signal = o.stop!.reason as NodeJS.Signals;
    fail({ message: `stopped by ${signal}`, signal });
  };
  if (o.stop?.aborted) onStop();
  o.stop?.addEventListener('abort', onStop);
  try {
    await settled;
    const grace = setTimeout(() => workers.forEach((w) => void w.terminate()), EXIT_GRACE_MS);
    await Promise.all(exited);
    clearTimeout(grace);
  } finally {
    o.stop?.removeEventListener('abort', onStop);
    for (const path of leftovers) rmSync(path, { recursive: true, force: true });
    await Promise.all(logs.map((l) => new Promise<void>((resolve) => l.end(resolve))));
  }
  return failure;
}
