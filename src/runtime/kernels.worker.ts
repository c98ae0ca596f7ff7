/**
 * A kernel thread of a rank's pool (src/runtime/pool.ts) on Node, Deno and Bun: takes its
 * start from the first message, says when its core is ready, and then serves the pool until
 * asked to leave.
 */
import { parentPort } from 'node:worker_threads';
import { runKernelThread, type ThreadInit } from './pool.ts';

parentPort!.once('message', (init: ThreadInit) => {
  void runKernelThread(init, () => parentPort!.postMessage('ready')).then(() => parentPort!.close());
});
