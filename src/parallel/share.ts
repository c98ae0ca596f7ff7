/**
 * Handing objects that JSON cannot carry (SharedArrayBuffers: the streamed base weights) from
 * rank 0 to the other ranks: rank 0 posts them to the launcher, which forwards them to every
 * other rank, where they are taken synchronously from the thread's port.
 */
import { parentPort, receiveMessageOnPort } from 'node:worker_threads';

/** The message that carries a shared value. */
export interface ShareMessage {
  type: 'share';
  value: unknown;
}

/** Rank 0: sends `value` (structured-cloned; SharedArrayBuffers stay shared) to every other rank. */
export function shareWithRanks(value: unknown): void {
  parentPort!.postMessage({ type: 'share', value } satisfies ShareMessage);
}

/** The other ranks: waits (at most timeoutMs) for the value rank 0 shared. */
export function receiveFromRank0<T>(timeoutMs: number): T {
  const start = Date.now(), nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const got = receiveMessageOnPort(parentPort!);
    if (got && (got.message as ShareMessage).type === 'share') return (got.message as ShareMessage).value as T;
    if (Date.now() - start > timeoutMs) throw new Error(`no value from rank 0 within ${timeoutMs / 1000} s`);
    Atomics.wait(nap, 0, 0, 2);
  }
}
