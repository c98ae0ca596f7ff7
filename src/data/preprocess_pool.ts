/**
 * Worker threads that tokenize `llama_preprocess` jobs, each with its own copy of the
 * tokenizer. Jobs go to the worker with the fewest pending; with no threads, jobs run inline.
 * A worker that fails rejects its pending jobs with an error that names it.
 */
import type { Worker } from 'node:worker_threads';
import { withBosEos } from '../tokenizer/bos_eos.ts';
import type { LoadedTokenizer } from '../tokenizer/load.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { startWorker } from '../workers.ts';
import { runJob, type Job, type JobResult } from './preprocess_jobs.ts';

interface Pending {
  resolve(result: JobResult): void;
  reject(err: Error): void;
}
interface PoolWorker {
  worker: Worker;
  pending: Map<number, Pending>;
  dead: Error | null;
}

/** Runs jobs on `threads` worker threads (inline when threads is 0). */
export class PreprocessPool {
  private readonly workers: PoolWorker[] = [];
  private readonly inline: Tokenizer | null;
  private nextId = 0;

  /**
   * Workers get the tokenizer's files and build their own; inline jobs use `tokenizer.tokenizer`.
   * Either way BOS and EOS are MindFormers' (withBosEos), which throws here if the tokenizer
   * lacks them; `raw` (chat rows, whose template writes the special tokens) keeps the
   * tokenizer's own.
   */
  constructor(tokenizer: LoadedTokenizer, threads: number, raw = false) {
    const inline = raw ? tokenizer.tokenizer : withBosEos(tokenizer.tokenizer, tokenizer.source);
    this.inline = threads === 0 ? inline : null;
    for (let t = 0; t < threads; t++) {
      const worker = startWorker('preprocess', import.meta.url, {
        workerData: { files: tokenizer.files, source: tokenizer.source, raw },
      });
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
      worker.on('exit', (code) => {
        if (!w.dead && code !== 0) die(new Error(`exited with code ${code}`));
      });
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
