/**
 * The collectives of one job's ranks, over a SharedArrayBuffer control block and the WebAssembly
 * memory the ranks share: a barrier, sums of a few numbers, exchanging small JSON values, and
 * the gradient all-reduce. Every result is summed in rank order, so every rank gets the same bits.
 *
 * Control block: Int32 words [arrived, generation, aborted, spare] at 0, then per rank the last
 * barrier generation it reached; per rank SLOTS f64 scalars; per rank MESSAGE_BYTES of JSON
 * (with a length prefix).
 */
import type { Core } from '../runtime/core.ts';
import type { Job } from './job.ts';

const ARRIVED = 0,
  GENERATION = 1,
  ABORTED = 2,
  REACHED = 4;
const SLOTS = 8;
const MESSAGE_BYTES = 256 * 1024;
const POLL_MS = 250;

/** Byte offsets of the parts of the control block of a job of `ranks` ranks. */
function layout(ranks: number): { scalars: number; messages: number; bytes: number } {
  const scalars = Math.ceil(((REACHED + ranks) * 4) / 64) * 64,
    messages = scalars + ranks * SLOTS * 8;
  return { scalars, messages, bytes: messages + ranks * MESSAGE_BYTES };
}

/** Bytes of the control block of a job of `ranks` ranks. */
export function controlBytes(ranks: number): number {
  return layout(ranks).bytes;
}

/** A rank gave up waiting for others at a collective: `missing` are the ranks that never came. */
export class CollectiveTimeout extends Error {
  constructor(
    message: string,
    readonly missing: number[],
  ) {
    super(message);
  }
}

/** Wakes every rank waiting at a collective of this control block and makes them stop (the launcher, on a failure). */
export function abortCollectives(control: SharedArrayBuffer): void {
  const words = new Int32Array(control, 0, 4);
  Atomics.store(words, ABORTED, 1);
  Atomics.notify(words, GENERATION);
}

/**
 * The collectives a parallel part of a rank uses, over all ranks of the job or over a group of
 * them (a data-parallel or a model-parallel group). Every rank of the job calls every collective
 * at the same points, so a group's barrier is the job's.
 */
export interface Collectives {
  /** this rank's place in the group, and the group's size */
  readonly rank: number;
  readonly ranks: number;
  barrier(): void;
  /** Element-wise sums over the group of up to 8 numbers (in rank order). */
  sum(values: number[]): number[];
  /** Every group member's JSON value, by place in the group. */
  allGather<T>(value: T): T[];
}

/** One rank's end of the job's collectives. */
export class Collective implements Collectives {
  readonly rank: number;
  readonly ranks: number;
  private readonly words: Int32Array;
  private readonly scalars: Float64Array;
  private readonly bytes: Uint8Array;
  private readonly timeoutMs: number;

  constructor(job: Job) {
    this.rank = job.rank;
    this.ranks = job.ranks;
    this.timeoutMs = job.timeoutMs;
    const at = layout(job.ranks);
    this.words = new Int32Array(job.control, 0, REACHED + job.ranks);
    this.scalars = new Float64Array(job.control, at.scalars, job.ranks * SLOTS);
    this.bytes = new Uint8Array(job.control, at.messages, job.ranks * MESSAGE_BYTES);
  }

  /** Returns once every rank has called it; throws if the job was aborted or the others stay away past the time-out. */
  barrier(): void {
    const w = this.words,
      gen = Atomics.load(w, GENERATION);
    Atomics.store(w, REACHED + this.rank, gen + 1);
    if (Atomics.add(w, ARRIVED, 1) === this.ranks - 1) {
      Atomics.store(w, ARRIVED, 0);
      Atomics.add(w, GENERATION, 1);
      Atomics.notify(w, GENERATION);
      return;
    }
    const start = Date.now();
    while (Atomics.load(w, GENERATION) === gen) {
      if (Atomics.load(w, ABORTED))
        throw new Error(`rank ${this.rank}: the job was stopped while this rank waited for the others`);
      if (Date.now() - start > this.timeoutMs) {
        const missing = [...Array(this.ranks).keys()].filter((r) => Atomics.load(w, REACHED + r) <= gen);
        throw new CollectiveTimeout(
          `rank ${this.rank} waited ${((Date.now() - start) / 1000).toFixed(0)} s at a collective for rank(s) ${missing.join(', ')} (CLUSTER_TIME_OUT ${this.timeoutMs / 1000} s)`,
          missing,
        );
      }
      Atomics.wait(w, GENERATION, gen, POLL_MS);
    }
  }

  /** Element-wise sums over the ranks of up to 8 numbers (in rank order). */
  sum(values: number[]): number[] {
    return this.sumOver(values, this.everyone());
  }

  /** Every rank's JSON value, by rank (a rank with nothing to say passes null). */
  allGather<T>(value: T): T[] {
    return this.allGatherOver(value, this.everyone());
  }

  /** The collectives of a group of ranks (job ranks, ascending; this rank among them). */
  group(members: number[]): Collectives {
    const rank = members.indexOf(this.rank);
    if (rank < 0) throw new Error(`rank ${this.rank} is not in the group ${members}`);
    return {
      rank,
      ranks: members.length,
      barrier: () => this.barrier(),
      sum: (values) => this.sumOver(values, members),
      allGather: (value) => this.allGatherOver(value, members),
    };
  }

  private everyone(): number[] {
    return [...Array(this.ranks).keys()];
  }

  /** Sums over `members` (every rank calls it; each writes its slot, reads its group's). */
  private sumOver(values: number[], members: number[]): number[] {
    if (values.length > SLOTS) throw new RangeError(`Collective.sum takes at most ${SLOTS} values`);
    this.scalars.set(values, this.rank * SLOTS);
    this.barrier();
    const out = values.map(() => 0);
    for (const r of members) for (let i = 0; i < values.length; i++) out[i] += this.scalars[r * SLOTS + i];
    this.barrier(); // nobody writes the slots again before every rank has read them
    return out;
  }

  /** Gathers over `members` (every rank calls it). */
  private allGatherOver<T>(value: T, members: number[]): T[] {
    const text = new TextEncoder().encode(JSON.stringify(value));
    if (text.length + 4 > MESSAGE_BYTES)
      throw new RangeError(`Collective.allGather: ${text.length} bytes exceed ${MESSAGE_BYTES - 4}`);
    const at = this.rank * MESSAGE_BYTES;
    new DataView(this.bytes.buffer, this.bytes.byteOffset + at, 4).setUint32(0, text.length, true);
    this.bytes.set(text, at + 4);
    this.barrier();
    const out: T[] = [];
    for (const r of members) {
      const n = new DataView(this.bytes.buffer, this.bytes.byteOffset + r * MESSAGE_BYTES, 4).getUint32(0, true);
      // TextDecoder does not read views of shared memory: copy first.
      out.push(
        JSON.parse(new TextDecoder().decode(this.bytes.slice(r * MESSAGE_BYTES + 4, r * MESSAGE_BYTES + 4 + n))) as T,
      );
    }
    this.barrier();
    return out;
  }
}

/**
 * Sums f32 buffers that every rank holds at its own offsets of the shared memory (gradients),
 * leaving the sum in every rank's copy. Each rank sums an equal share of the elements (reading
 * every rank's copy, writing every copy), so the work is split and no element is written twice.
 */
export class AllReduce {
  /** this rank's share: per piece, the element range of one buffer */
  private readonly share: { buffer: number; from: number; n: number }[] = [];

  /** `buffers[r][i]` is group member r's offset of buffer i, which holds `lengths[i]` floats. */
  constructor(
    private readonly collective: Collectives,
    private readonly core: Core,
    private readonly buffers: number[][],
    lengths: number[],
  ) {
    const total = lengths.reduce((a, b) => a + b, 0),
      ranks = collective.ranks;
    // Rank r owns elements [lo, hi) of the buffers laid end to end; shares end on multiples of 16.
    const bound = (r: number) => Math.min(total, Math.ceil((total * r) / ranks / 16) * 16);
    const lo = bound(collective.rank),
      hi = bound(collective.rank + 1);
    let start = 0;
    lengths.forEach((n, i) => {
      const from = Math.max(lo, start),
        to = Math.min(hi, start + n);
      if (to > from) this.share.push({ buffer: i, from: from - start, n: to - from });
      start += n;
    });
  }

  /** Replaces every rank's buffers by their sum over the ranks (a collective: every rank calls it). */
  run(): void {
    this.collective.barrier(); // every rank's buffers are complete
    const ranks = this.collective.ranks,
      { kernels, arena } = this.core,
      b = this.buffers;
    for (const { buffer, from, n } of this.share) {
      const at = (r: number) => b[r][buffer] + from * 4;
      for (let r = 1; r < ranks; r++) kernels.axpy(at(0), at(r), n, 1);
      const sum = arena.f32(at(0), n);
      for (let r = 1; r < ranks; r++) arena.f32(at(r), n).set(sum);
    }
    this.collective.barrier(); // every share is summed everywhere
  }
}
