/**
 * Kernel threads as worker threads of Node, Deno and Bun, and the thread count a command uses
 * when `--threads` is not given: the cores left to each rank of the job.
 */
import { availableParallelism } from 'node:os';
import { startWorker } from '../workers.ts';
import type { SpawnThread } from './pool.ts';

/** Starts a kernel thread as a worker thread that does not keep the process alive. */
export const spawnWorkerThread: SpawnThread = (init) =>
  new Promise((resolve, reject) => {
    const worker = startWorker('kernels', import.meta.url);
    worker.once('error', reject);
    worker.once('message', () => {
      worker.off('error', reject);
      worker.unref();
      resolve({ terminate: () => void worker.terminate() });
    });
    worker.postMessage(init);
  });

/** The threads each of `ranks` ranks gets by default: this machine's cores shared out, at least one. */
export function defaultThreads(ranks = 1): number {
  return Math.max(1, Math.floor(availableParallelism() / ranks));
}
