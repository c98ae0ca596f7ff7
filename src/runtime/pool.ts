/**
 * Threads inside a rank: worker threads, each with its own instance of the core over the rank's
 * shared memory and its own workspace, that run slices of one kernel call while the calling
 * thread runs the first slice. They are woken and joined through Atomics on a small shared
 * control block, not through messages, so a call costs microseconds: a decoding step makes a
 * hundred of them. A slice is an export of the core and its arguments; which slices make up a
 * call (and that they give the one-thread bits) is decided by Kernels.
 *
 * The caller blocks in Atomics.wait while the other threads finish, so a pool needs a thread
 * that may block: Node's main thread or any worker (not a browser page's main thread).
 */

/** The exports a slice may call (a thread looks them up once, by index). */
export const SLICE_EXPORTS = [
  'gemm',
  'matmul_xwt',
  'matmul_xwt_rows',
  'matmul_xwt_q',
  'matmul_dyw',
  'matmul_dyw_q',
  'attention_fwd',
  'attention_bwd',
  'attention_decode',
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

// Control block: int32 [epoch, remaining, failed, failedFn] then float64 rows of ROW slots per thread:
// [export index (−1: nothing this time, −2: leave), argument count, arguments...].
const EPOCH = 0,
  REMAINING = 1,
  FAILED = 2,
  FAILED_FN = 3;
const HEADER_BYTES = 64;
const ROW = 24;
const NOTHING = -1,
  LEAVE = -2;
/** Checks of the control block a waiting thread makes before it sleeps (tens of microseconds). */
const SPIN = 20000;

function controlBytes(threads: number): number {
  return HEADER_BYTES + threads * ROW * 8;
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
    const control = new SharedArrayBuffer(controlBytes(threads));
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

  /** Runs slices[0] here and the others on the kernel threads (at most `threads` slices), returning when all are done. */
  run(slices: Slice[]): void {
    if (slices.length > this.threads) throw new RangeError(`pool: ${slices.length} slices for ${this.threads} threads`);
    const others = this.threads - 1;
    for (let t = 1; t <= others; t++) {
      const row = (t - 1) * ROW,
        s = slices[t];
      if (!s) {
        this.rows[row] = NOTHING;
        continue;
      }
      this.rows[row] = SLICE_EXPORTS.indexOf(s.fn);
      this.rows[row + 1] = s.args.length;
      this.rows.set(s.args, row + 2);
    }
    this.wake(others);
    // The other threads are joined even when this thread's slice fails, so the next call starts clean.
    let error: unknown;
    try {
      this.run0(slices[0]);
    } catch (err) {
      error = err;
    }
    this.join();
    if (Atomics.load(this.flags, FAILED) !== 0) {
      const fn = SLICE_EXPORTS[Atomics.load(this.flags, FAILED_FN)];
      Atomics.store(this.flags, FAILED, 0);
      error ??= new Error(`wasmformers core: a kernel thread failed in ${fn}`);
    }
    if (error !== undefined) throw error;
  }

  /** Asks every kernel thread to leave and ends them. */
  close(): void {
    const others = this.threads - 1;
    for (let t = 0; t < others; t++) this.rows[t * ROW] = LEAVE;
    this.wake(others);
    this.join();
    for (const h of this.handles) h.terminate();
  }

  private wake(others: number): void {
    Atomics.store(this.flags, REMAINING, others);
    Atomics.add(this.flags, EPOCH, 1);
    Atomics.notify(this.flags, EPOCH);
  }

  private join(): void {
    for (let i = 0; i < SPIN; i++) if (Atomics.load(this.flags, REMAINING) === 0) return;
    for (;;) {
      const left = Atomics.load(this.flags, REMAINING);
      if (left === 0) return;
      Atomics.wait(this.flags, REMAINING, left);
    }
  }
}

/**
 * The loop of a kernel thread: instantiates the core over the shared memory, reports through
 * `ready`, then runs its slice of each call until the pool asks it to leave. Blocks its thread.
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
  const row = new Float64Array(init.control, HEADER_BYTES + (init.index - 1) * ROW * 8, ROW);
  let seen = Atomics.load(flags, EPOCH);
  ready();
  for (;;) {
    let spin = 0;
    while (Atomics.load(flags, EPOCH) === seen) {
      if (++spin > SPIN) Atomics.wait(flags, EPOCH, seen);
    }
    seen = Atomics.load(flags, EPOCH);
    const fn = row[0];
    if (fn === LEAVE) {
      finish(flags);
      return;
    }
    if (fn !== NOTHING) {
      try {
        fns[fn](...Array.from(row.subarray(2, 2 + row[1])));
      } catch {
        Atomics.store(flags, FAILED_FN, fn);
        Atomics.store(flags, FAILED, 1);
      }
    }
    finish(flags);
  }
}

/** Counts this thread's slice done; the last one wakes the caller. */
function finish(flags: Int32Array): void {
  if (Atomics.sub(flags, REMAINING, 1) === 1) Atomics.notify(flags, REMAINING);
}
