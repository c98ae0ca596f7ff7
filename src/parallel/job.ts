/**
 * What a rank of an msrun_launcher job knows about the job: its rank, the number of ranks, the
 * WebAssembly memory every rank's core shares, the control block the collectives run over, and
 * how long a rank may wait for the others. The launcher hands it to each worker thread.
 */
import { isMainThread, workerData } from 'node:worker_threads';

/** The job a rank belongs to (structured-cloneable: the memory and the control block are shared). */
export interface Job {
  rank: number;
  ranks: number;
  /** shared WebAssembly memory (sharedCoreMemory) */
  memory: WebAssembly.Memory;
  /** control block of the collectives (controlBytes(ranks) bytes) */
  control: SharedArrayBuffer;
  /** longest wait at a collective before the rank gives up, in ms (CLUSTER_TIME_OUT) */
  timeoutMs: number;
}

/** The worker data a rank thread starts with. */
export interface RankData {
  job: Job;
  /** the command each rank runs, and its arguments */
  command: string;
  argv: string[];
  /** the rank's worker log, which its console output is appended to */
  logPath: string;
}

/** What a rank tells the launcher when its command ends. */
export type RankReport = { type: 'done'; code: number } | { type: 'failed'; message: string; missing?: number[] };

/** A path the launcher removes when the job ends while the rank holds it (`held`), or no longer has to. */
export interface LeftoverMessage {
  type: 'leftover';
  path: string;
  held: boolean;
}

/** The job of this thread when msrun_launcher started it, else undefined (a plain process). */
export function currentJob(): Job | undefined {
  if (isMainThread) return undefined;
  const data = workerData as Partial<RankData> | undefined;
  return data?.job;
}
