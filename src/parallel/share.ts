/**
 * Handing objects that JSON cannot carry (SharedArrayBuffers: the streamed base weights) from
 * the rank that loaded them to the others: it posts them, under a key, to the launcher, which
 * forwards them to every other rank; a rank takes the value of its key synchronously from the
 * thread's port (and passes over the others).
 */
import { parentPort, receiveMessageOnPort } from 'node:worker_threads';

/** The message that carries a shared value. */
export interface ShareMessage {
  type: 'share';
  key: string;
  value: unknown;
}

/** Sends `value` (structured-cloned; SharedArrayBuffers stay shared) to every other rank under `key`. */
export function shareWithRanks(key: string, value: unknown): void {
  parentPort!.postMessage({ type: 'share', key, value } satisfies ShareMessage);
}

/** Waits (at most timeoutMs) for the value another rank shared under `key`. */
export function receiveShared<T>(key: string, timeoutMs: number): T {
  const start = Date.now(),
    nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    const got = receiveMessageOnPort(parentPort!)?.message as ShareMessage | undefined;
    if (got?.type === 'share' && got.key === key) return got.value as T;
    if (got) continue;
    if (Date.now() - start > timeoutMs)
      throw new Error(`no ${key} from the rank that holds it within ${timeoutMs / 1000} s`);
    Atomics.wait(nap, 0, 0, 2);
  }
}
