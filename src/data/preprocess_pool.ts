/**
 * Worker threads that tokenize `llama_preprocess` jobs, each with its own copy of the
 * tokenizer. Jobs go to the worker with the fewest pending; with no threads, jobs run inline.
 * A worker that fails rejects its pending jobs with an error that names it.
 */
import type { Worker } from 'node:worker_threads';
import { LlamaTokenizer } from '../tokenizer/llama.ts';
import type { LoadedTokenizer } from '../tokenizer/load.ts';
import { startWorker } from '../workers.ts';
import { runJob, type Job, type JobResult } from './preprocess_jobs.ts';

interface Pending { resolve(result: JobResult): void; reject(err: Error): void }
interface PoolWorker { worker: Worker; pending: Map<number, Pending>; dead: Error | null }

/** Runs jobs on `threads` worker threads (inline when threads is 0). */
export class PreprocessPool {
  private readonly workers: PoolWorker[] = [];
  private readonly inline: LlamaTokenizer | null;
  private nextId = 0;

  /** Workers get the model's bytes and build their own tokenizer; inline jobs use `tokenizer.sp`. */
  constructor(tokenizer: LoadedTokenizer, threads: number) {
    this.inline = threads === 0 ? new LlamaTokenizer(tokenizer.sp) : null;
    for (let t = 0; t < threads; t++) {
      const worker = startWorker('preprocess', import.meta.url, { workerData: { model: tokenizer.bytes, source: tokenizer.source } });
      const w: PoolWorker = { worker, pending: new Map(), dead: null };
      worker.on('message', (msg: { id: number; result?: JobResult; error?: string }) => {
        const p = w.pending.get(msg.id);
        w.pending.delete(msg.id);
        if (msg.error !== undefined) p?.reject(new Error(msg.error));
        else p?.resolve(msg.result!);
      });
      const die = (err: Error) => {
        w.dead = new Error(`tokenizer worker ${t} failed: ${err.message}`);
        for (const p of w.pending.values()) p.reject(w.dead);
        w.pending.clear();
      };
      worker.on('error', die);
      worker.on('exit', (code) => { if (!w.dead && code !== 0) die(new Error(`exited with code ${code}`)); });
      this.workers.push(w);
    }
  }

  /** Runs one job. */
  run(job: Job): Promise<JobResult> {
    if (this.inline) return Promise.resolve(runJob(this.inline, job));
    const w = this.workers.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    if (w.dead) return Promise.reject(w.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      w.pending.set(id, { resolve, reject });
      w.worker.postMessage({ id, job });
    });
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
  }
}
