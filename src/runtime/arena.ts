/**
 * A host-managed arena over a WebAssembly.Memory: aligned bump allocation with marks, so a
 * model can plan parameters, gradients and per-step activations as offsets. Kernels never
 * allocate; they receive these offsets.
 *
 * A shared memory (the ranks of one job, each a core in its own thread, over one memory that
 * holds the base weights once) is grown by several arenas at once: there each arena takes
 * chunks of its own with `memory.grow`, which hands every caller a distinct range, and bumps
 * within them.
 */
import { isShared } from './host.ts';

const PAGE = 65536;
/** Smallest chunk an arena over a shared memory takes at a time. */
const CHUNK_BYTES = 16 * 1024 * 1024;
/** One WASM memory (no memory64) addresses at most 4 GiB. */
export const MAX_MEMORY_BYTES = 4 * 1024 * 1024 * 1024;
/** Bytes a job's shared memory starts with (the cores' static data); the ranks' arenas take chunks above them. */
export const SHARED_INITIAL_BYTES = 16 * PAGE;

/** Bytes of the chunk an arena over a shared memory takes for an allocation that no chunk has room for (whole pages). */
function chunkFor(bytes: number, align: number): number {
  return Math.ceil(Math.max(CHUNK_BYTES, bytes + align) / PAGE) * PAGE;
}

/**
 * Bytes a new arena over a shared memory takes from it, in whole chunks, for allocations of
 * these sizes made in order: what a rank adds to its job's memory. A chunk's tail that the next
 * allocation does not fit in stays unused, so this is more than the sizes' sum.
 */
export function sharedArenaBytes(sizes: number[], align = 64): number {
  let taken = CHUNK_BYTES,
    top = 0,
    end = CHUNK_BYTES; // top and end within the current chunk
  for (const bytes of sizes) {
    const at = alignUp(top, align);
    if (at + bytes <= end) {
      top = at + bytes;
    } else {
      end = chunkFor(bytes, align);
      taken += end;
      top = bytes;
    }
  }
  return taken;
}

/** Bump allocator over one WebAssembly.Memory; offsets stay valid across growth. */
export class Arena {
  /** The memory every kernel of the owning core reads and writes. */
  readonly memory: WebAssembly.Memory;
  private top: number;
  /** Shared memory only: the chunks taken so far ([start, end) byte ranges) and the one in use. */
  private readonly chunks?: { start: number; end: number }[];
  private current = 0;

  /** Starts allocating at `start` (the core's heap base; on a shared memory, in a chunk of its own). */
  constructor(memory: WebAssembly.Memory, start: number) {
    this.memory = memory;
    this.top = alignUp(start, 64);
    if (isShared(memory)) {
      this.chunks = [];
      this.top = this.takeChunk(CHUNK_BYTES);
    }
  }

  /** Bytes of the memory taken up: from offset 0 to the top (on a shared memory, by every arena). */
  get used(): number {
    return this.chunks ? this.memory.buffer.byteLength : this.top;
  }

  /** Reserves `bytes` at an `align`-byte boundary (64 by default) and returns the offset. */
  alloc(bytes: number, align = 64): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`arena: cannot allocate ${bytes} bytes`);
    if (this.chunks) return this.allocShared(bytes, align);
    const at = alignUp(this.top, align);
    const end = at + bytes;
    if (end > MAX_MEMORY_BYTES) {
      throw new RangeError(`arena: ${end} bytes exceed the 4 GiB one WebAssembly memory can address`);
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    return at;
  }

  /** The current top, to hand back to release() (stack discipline for temporaries). */
  mark(): number {
    return this.top;
  }

  /** Frees everything allocated after `mark`. */
  release(mark: number): void {
    if (this.chunks) {
      const i = this.chunks.findIndex((c) => mark >= c.start && mark <= c.end);
      if (i < 0 || i > this.current || (i === this.current && mark > this.top))
        throw new RangeError('arena: release past the top');
      this.current = i;
    } else if (mark > this.top) {
      throw new RangeError('arena: release past the top');
    }
    this.top = mark;
  }

  /** Shared memory: bumps within the current chunk, else the first later chunk with room, else a new one. */
  private allocShared(bytes: number, align: number): number {
    const chunks = this.chunks!;
    for (let i = this.current; i < chunks.length; i++) {
      const at = alignUp(i === this.current ? this.top : chunks[i].start, align);
      if (at + bytes <= chunks[i].end) {
        this.current = i;
        this.top = at + bytes;
        return at;
      }
    }
    const at = alignUp(this.takeChunk(chunkFor(bytes, align)), align);
    this.top = at + bytes;
    return at;
  }

  /** Grows the shared memory by at least `bytes` and makes the new range the current chunk. */
  private takeChunk(bytes: number): number {
    const pages = Math.ceil(bytes / PAGE);
    let old: number;
    try {
      old = this.memory.grow(pages);
    } catch {
      throw new RangeError(
        `arena: ${this.memory.buffer.byteLength + pages * PAGE} bytes exceed the 4 GiB one WebAssembly memory (shared by the ranks) can address`,
      );
    }
    this.chunks!.push({ start: old * PAGE, end: (old + pages) * PAGE });
    this.current = this.chunks!.length - 1;
    return old * PAGE;
  }

  /** A Float32Array view of n floats at ptr (take a fresh view after any allocation). */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  /** An Int32Array view of n ints at ptr. */
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }

  /** A Uint16Array view (bf16 storage) of n elements at ptr. */
  u16(ptr: number, n: number): Uint16Array {
    return new Uint16Array(this.memory.buffer, ptr, n);
  }

  /** A Uint8Array view of n bytes at ptr. */
  u8(ptr: number, n: number): Uint8Array {
    return new Uint8Array(this.memory.buffer, ptr, n);
  }

  /** An Int8Array view of n elements at ptr. */
  i8(ptr: number, n: number): Int8Array {
    return new Int8Array(this.memory.buffer, ptr, n);
  }
}

/** Rounds n up to a multiple of align (a power of two). */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
