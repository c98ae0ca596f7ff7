/**
 * Threads inside a rank: worker threads, each with its own instance of the core over the rank's
 * shared memory and its own workspace, that run slices of one kernel call beside the calling
 * thread. A call publishes its slices in a small shared control block and wakes the threads
 * through Atomics (not messages, so a call costs microseconds: a decoding step makes a hundred);
 * every thread, the caller included, then claims slices one at a time until none is left, so a
 * thread the system has not scheduled yet never holds the others up: the caller runs what it
 * has not claimed. A slice is an export of the core and its arguments; which slices make up a
 * call (and that they give the one-thread bits, whoever runs them) is decided by Kernels.
 *
 * The caller blocks in Atomics.wait while the last claimed slices finish, so a pool needs a
 * thread that may block: Node's main thread or any worker (not a browser page's main thread).
 */

/** The exports a slice may call (a thread looks them up once, by index). */
export const SLICE_EXPORTS = [
  'gemm',
  'matmul_xwt',
  'matmul_xwt_rows',
  'matmul_xwt_q',
  'matmul_xwt_qa',
  'matmul_dyw',
  'matmul_dyw_q',
  'attention_fwd',
  'attention_bwd',
  'attention_decode',
  'attention_decode_rows',
  'ce_fwd',
  'ce_fwd_bwd',
  'rmsnorm_fwd',
  'rope_apply',
  'swiglu_fwd',
  'swiglu_bwd',
  'adamw',
  'scale',
  'axpy',
  'vmul',
] as const;

/** The name of an export a slice may call. */
export type SliceExport = (typeof SLICE_EXPORTS)[number];

/** One thread's part of a kernel call: the export and its arguments (offsets, sizes, 0/1 for flags). */
export interface Slice {
  fn: SliceExport;
  args: number[];
}

/** What a kernel thread starts from: the core's module and memory, its workspace, and the control block. */
export interface ThreadInit {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** Offset of this thread's workspace (workspace_bytes() bytes) in the memory. */
  workspace: number;
  /** The pool's control block (see CONTROL_BYTES). */
  control: SharedArrayBuffer;
  /** Which thread this is, 1.. (0 is the caller). */
  index: number;
}

/** A started kernel thread, as its host made it. */
export interface ThreadHandle {
  /** Ends the thread now (the pool asks it to leave first; this is for a thread that will not). */
  terminate(): void;
}

/** Starts one kernel thread that runs `runKernelThread(init)` and resolves once it has its core. */
export type SpawnThread = (init: ThreadInit) => Promise<ThreadHandle>;

// Control block: int32 [ticket, done, leave, failed, failedFn], then float64 rows of ROW slots, one
// per slice: [export index, argument count, arguments...]. The ticket holds the published call's
// slice count (high bits) and how many of them are claimed (low 8 bits); a thread claims one by
// raising it with compareExchange, and the rows are written before the ticket is published.
const TICKET = 0,
  DONE = 1,
  LEAVE = 2,
  FAILED = 3,
  FAILED_FN = 4;
const HEADER_BYTES = 64;
const ROW = 24;
/** Most slices of one call (the claim count has 8 bits). */
const MAX_SLICES = 255;
/** Checks of the control block a waiting thread makes before it sleeps (about a millisecond: a sleeping thread takes tens of microseconds to wake, which decoding steps of a few milliseconds and a hundred calls cannot afford). */
const SPIN = 60000;

/** The index of a slice this thread claimed from the published call, or −1 when none is left. */
function claim(flags: Int32Array): number {
  for (;;) {
    const t = Atomics.load(flags, TICKET),
      n = t >>> 8,
      next = t & 0xff;
    if (next >= n) return -1;
    if (Atomics.compareExchange(flags, TICKET, t, t + 1) === t) return next;
  }
}

/** Counts a slice done; the one that completes the call wakes the caller. */
function finish(flags: Int32Array, slices: number): void {
  if (Atomics.add(flags, DONE, 1) + 1 === slices) Atomics.notify(flags, DONE);
}

/** A pool of `threads` − 1 kernel threads plus the caller, over one core's shared memory. */
export class ThreadPool {
  private readonly flags: Int32Array;
  private readonly rows: Float64Array;

  private constructor(
    /** Threads that take part in a call, the caller included. */
    readonly threads: number,
    control: SharedArrayBuffer,
    private readonly handles: ThreadHandle[],
    private readonly run0: (slice: Slice) => void,
  ) {
    this.flags = new Int32Array(control, 0, HEADER_BYTES / 4);
    this.rows = new Float64Array(control, HEADER_BYTES);
  }

  /**
   * Starts `threads` − 1 kernel threads over `memory` (shared) with workspaces from `allocWorkspace`;
   * `run0` runs a slice on the caller's own core.
   */
  static async start(
    threads: number,
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    allocWorkspace: () => number,
    spawn: SpawnThread,
    run0: (slice: Slice) => void,
  ): Promise<ThreadPool> {
    if (threads > MAX_SLICES) throw new RangeError(`pool: at most ${MAX_SLICES} threads, got ${threads}`);
    const control = new SharedArrayBuffer(HEADER_BYTES + threads * ROW * 8);
    const inits = Array.from({ length: threads - 1 }, (_, i) => ({
      module,
      memory,
      workspace: allocWorkspace(),
      control,
      index: i + 1,
    }));
    const handles = await Promise.all(inits.map(spawn));
    return new ThreadPool(threads, control, handles, run0);
  }

  /** Runs the slices (at most `threads`) on this thread and the kernel threads, returning when all are done. */
  run(slices: Slice[]): void {
    const n = slices.length;
    if (n > this.threads) throw new RangeError(`pool: ${n} slices for ${this.threads} threads`);
    slices.forEach((s, i) => {
      const row = i * ROW;
      this.rows[row] = SLICE_EXPORTS.indexOf(s.fn);
      this.rows[row + 1] = s.args.length;
      this.rows.set(s.args, row + 2);
    });
    Atomics.store(this.flags, DONE, 0);
    Atomics.store(this.flags, TICKET, n << 8);
    Atomics.notify(this.flags, TICKET);
    // This thread claims slices too, so the call ends even when no other thread gets to run.
    let error: unknown;
    for (let i = claim(this.flags); i >= 0; i = claim(this.flags)) {
      try {
        this.run0(slices[i]);
      } catch (err) {
        error ??= err;
      }
      finish(this.flags, n);
    }
    this.join(n);
    if (Atomics.load(this.flags, FAILED) !== 0) {
      const fn = SLICE_EXPORTS[Atomics.load(this.flags, FAILED_FN)];
      Atomics.store(this.flags, FAILED, 0);
      error ??= new Error(`wasmformers core: a kernel thread failed in ${fn}`);
    }
    if (error !== undefined) throw error;
  }

  /** Asks every kernel thread to leave and ends them. */
  close(): void {
    Atomics.store(this.flags, LEAVE, 1);
    Atomics.notify(this.flags, TICKET);
    for (const h of this.handles) h.terminate();
  }

  private join(n: number): void {
    for (let i = 0; i < SPIN; i++) if (Atomics.load(this.flags, DONE) === n) return;
    for (;;) {
      const done = Atomics.load(this.flags, DONE);
      if (done === n) return;
      Atomics.wait(this.flags, DONE, done);
    }
  }
}

/**
 * The loop of a kernel thread: instantiates the core over the shared memory, reports through
 * `ready`, then claims slices of each call until the pool asks it to leave. Blocks its thread.
 */
export async function runKernelThread(init: ThreadInit, ready: () => void): Promise<void> {
  const instance = await WebAssembly.instantiate(init.module, {
    env: {
      memory: init.memory,
      abort(): never {
        throw new Error('wasmformers core: abort');
      },
    },
  });
  const exports = instance.exports as Record<string, (...args: number[]) => unknown>;
  (exports.set_workspace as (ptr: number) => void)(init.workspace);
  const fns = SLICE_EXPORTS.map((name) => exports[name]);
  const flags = new Int32Array(init.control, 0, HEADER_BYTES / 4);
  const rows = new Float64Array(init.control, HEADER_BYTES);
  ready();
  for (;;) {
    for (let i = claim(flags); i >= 0; i = claim(flags)) {
      const row = i * ROW,
        fn = rows[row];
      try {
        fns[fn](...Array.from(rows.subarray(row + 2, row + 2 + rows[row + 1])));
      } catch {
        Atomics.store(flags, FAILED_FN, fn);
        Atomics.store(flags, FAILED, 1);
      }
      finish(flags, Atomics.load(flags, TICKET) >>> 8);
    }
    if (Atomics.load(flags, LEAVE) !== 0) return;
    // Nothing left to claim: wait for the ticket to change (a new call) or the pool to close.
    const seen = Atomics.load(flags, TICKET);
    if ((seen & 0xff) < seen >>> 8) continue;
    let spin = 0;
    while (Atomics.load(flags, TICKET) === seen && Atomics.load(flags, LEAVE) === 0)
      if (++spin > SPIN) Atomics.wait(flags, TICKET, seen);
  }
}
