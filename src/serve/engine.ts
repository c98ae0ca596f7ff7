/**
 * The scheduler of `serve`: requests wait in a bounded queue, up to `maxRunning` of them decode
 * together (one BatchDecoder step for all, joining when a cache slot frees and leaving when they
 * finish), and each one's tokens go to its listener as they are chosen. A full queue refuses at
 * once (the server answers 429); a request past its deadline or whose client went away stops
 * and frees its cache; drain() stops taking requests and lets the running ones finish.
 *
 * Everything runs on the one JavaScript thread: between steps the loop yields to the event loop,
 * so that the HTTP side reads requests and writes streamed tokens while decoding goes on.
 */
import type { ServedAdapter } from '../model/adapters.ts';
import type { BatchDecoder, DecodeSequence } from '../model/batch_decode.ts';
import { Rng } from '../runtime/random.ts';
import { sampleToken, type SamplingOptions } from '../generate/sampling.ts';

/** Why a generation ended: an end id or stop string, max_tokens, the deadline, the client (or the server) cancelling. */
export type FinishReason = 'stop' | 'length' | 'deadline' | 'cancelled';

/** One generation to run. */
export interface GenerationRequest {
  prompt: readonly number[];
  /** none: the base model */
  adapter?: ServedAdapter;
  maxTokens: number;
  sampling: SamplingOptions;
  seed: number;
  /** ids that end the generation (the eos, a chat template's end of turn); they are not passed on */
  stopIds: readonly number[];
  /** aborting it cancels the generation (the client went away) */
  signal?: AbortSignal;
  /** called with each new token (never a stop id); returning true ends the generation with 'stop' (a stop string) */
  onToken(id: number): boolean | void;
}

/** How a generation ended. */
export interface GenerationResult {
  tokens: number[];
  finish: FinishReason;
}

/** The scheduler's limits. */
export interface EngineLimits {
  /** requests waiting beyond the running ones; one more is refused */
  maxQueue: number;
  /** milliseconds a request may take from submit to its last token */
  deadlineMs: number;
  /** the tokenizer's size: ids at or above it (a model's padded rows) are never sampled */
  vocabLimit: number;
}

/** Thrown by submit when the queue is full or the engine drains. */
export class EngineBusy extends Error {
  constructor(
    message: string,
    readonly draining: boolean,
  ) {
    super(message);
  }
}

interface Job {
  req: GenerationRequest;
  submitted: number;
  seq?: DecodeSequence;
  rng: Rng;
  /** the tokens chosen so far; the last is fed at the next step */
  tokens: number[];
  done(result: GenerationResult): void;
  fail(err: Error): void;
}

/** A job's prompt and its tokens so far (what a repetition penalty counts). */
function* seenIds(job: Job): Iterable<number> {
  yield* job.req.prompt;
  yield* job.tokens;
}

/** The batch scheduler over one decoder. */
export class Engine {
  private readonly queue: Job[] = [];
  private readonly running: Job[] = [];
  private looping = false;
  private draining = false;
  /** set when a drain's deadline passes: the running jobs are cancelled at the next step */
  private cancelAll = false;
  /** resolved when the loop stops (nothing running or waiting) */
  private idle: (() => void)[] = [];
  /** decoding steps taken, tokens they produced, and generations ended by each reason, for monitoring */
  steps = 0;
  tokens = 0;
  readonly finished: Record<FinishReason, number> = { stop: 0, length: 0, deadline: 0, cancelled: 0 };

  constructor(
    readonly decoder: BatchDecoder,
    readonly limits: EngineLimits,
  ) {}

  /** Requests decoding now and waiting, and how many ended by each reason so far. */
  get load(): { running: number; queued: number; finished: Record<FinishReason, number> } {
    return { running: this.running.length, queued: this.queue.length, finished: { ...this.finished } };
  }

  /** Queues a generation; throws EngineBusy when the queue is full or the engine is draining. */
  submit(req: GenerationRequest): Promise<GenerationResult> {
    if (this.draining) throw new EngineBusy('the server is shutting down', true);
    const free = this.decoder.maxRows - this.running.length;
    if (this.queue.length >= this.limits.maxQueue + Math.max(0, free)) {
      throw new EngineBusy(
        `the server is busy: ${this.running.length} requests running and ${this.queue.length} waiting (limit ${this.limits.maxQueue}); retry later`,
        false,
      );
    }
    return new Promise((done, fail) => {
      this.queue.push({
        req,
        submitted: performance.now(),
        rng: new Rng(req.seed),
        tokens: [],
        done,
        fail,
      });
      this.start();
    });
  }

  /**
   * Stops taking requests, refuses the waiting ones (cancelled), and resolves once the running
   * ones finish or, after `deadlineMs`, cancels them.
   */
  async drain(deadlineMs: number): Promise<void> {
    this.draining = true;
    for (const job of this.queue.splice(0)) this.finish(job, 'cancelled');
    if (!this.running.length) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      new Promise<void>((resolve) => this.idle.push(resolve)),
      new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          this.cancelAll = true;
          resolve();
        }, deadlineMs);
      }),
    ]);
    clearTimeout(timer);
    if (this.running.length) await new Promise<void>((resolve) => this.idle.push(resolve));
  }

  private start(): void {
    if (this.looping) return;
    this.looping = true;
    void this.loop();
  }

  /** Admits a waiting job into a free slot, then runs one step over every running job, until none is left. */
  private async loop(): Promise<void> {
    try {
      while (this.queue.length || this.running.length) {
        this.admit();
        this.step();
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    } catch (err) {
      // A fault of the model (not of a request): every request in flight fails with it, and the server goes on.
      for (const job of [...this.running, ...this.queue.splice(0)]) {
        if (job.seq) this.decoder.close(job.seq);
        job.fail(err as Error);
      }
      this.running.length = 0;
    } finally {
      this.looping = false;
      for (const resolve of this.idle.splice(0)) resolve();
    }
  }

  /**
   * Prefills the next waiting job when a cache slot is free (the prefill chooses its first
   * token). One per step: the running jobs' tokens and the new first token go out before the
   * next prompt is read, rather than after every waiting prompt.
   */
  private admit(): void {
    while (this.queue.length && this.decoder.free > 0) {
      const job = this.queue.shift()!;
      if (this.ended(job)) continue;
      job.seq = this.decoder.open(job.req.adapter);
      this.running.push(job);
      this.take(job, this.decoder.prefill(job.seq, job.req.prompt));
      return;
    }
  }

  /** One batched step over the running jobs that have a token to feed. */
  private step(): void {
    for (const job of [...this.running]) this.ended(job);
    if (!this.running.length) return;
    const logits = this.decoder.decodeBatch(
      this.running.map((job) => ({ seq: job.seq!, token: job.tokens[job.tokens.length - 1] })),
    );
    const V = logits.length / this.running.length;
    this.steps++;
    [...this.running].forEach((job, i) => this.take(job, logits.subarray(i * V, (i + 1) * V)));
  }

  /** Chooses a job's next token from its logits and passes it on, finishing the job when it ends. */
  private take(job: Job, logits: Float32Array): void {
    if (this.limits.vocabLimit < logits.length) logits.fill(-Infinity, this.limits.vocabLimit);
    const id = sampleToken(logits, seenIds(job), job.req.sampling, job.rng);
    this.tokens++;
    if (job.req.stopIds.includes(id)) return this.finish(job, 'stop');
    job.tokens.push(id);
    let stop: boolean | void;
    try {
      stop = job.req.onToken(id);
    } catch {
      return this.finish(job, 'cancelled'); // the listener failed (its client is gone)
    }
    if (stop === true) return this.finish(job, 'stop');
    if (job.tokens.length >= job.req.maxTokens) this.finish(job, 'length');
  }

  /** Finishes a job that was cancelled or ran past its deadline; true when it did. */
  private ended(job: Job): boolean {
    if (job.req.signal?.aborted || this.cancelAll) this.finish(job, 'cancelled');
    else if (performance.now() - job.submitted > this.limits.deadlineMs) this.finish(job, 'deadline');
    else return false;
    return true;
  }

  /** Frees a job's cache slot and resolves its promise. */
  private finish(job: Job, finish: FinishReason): void {
    const at = this.running.indexOf(job);
    if (at >= 0) this.running.splice(at, 1);
    if (job.seq) this.decoder.close(job.seq);
    job.seq = undefined;
    this.finished[finish]++;
    job.done({ tokens: job.tokens, finish });
  }
}
