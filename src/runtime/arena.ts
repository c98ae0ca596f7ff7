/**
 * A host-managed arena over a WebAssembly.Memory: aligned bump allocation with marks, so a
 * model can plan parameters, gradients and per-step activations as offsets. Kernels never
 * allocate; they receive these offsets.
 */

const PAGE = 65536;
/** One WASM memory (no memory64) addresses at most 4 GiB. */
export const MAX_MEMORY_BYTES = 4 * 1024 * 1024 * 1024;

/** Bump allocator over one WebAssembly.Memory; offsets stay valid across growth. */
export class Arena {
  /** The memory every kernel of the owning core reads and writes. */
  readonly memory: WebAssembly.Memory;
  private top: number;

  /** Starts allocating at `start` (the core's heap base). */
  constructor(memory: WebAssembly.Memory, start: number) {
    this.memory = memory;
    this.top = alignUp(start, 64);
  }

  /** Bytes handed out so far, from offset 0. */
  get used(): number {
    return this.top;
  }

  /** Reserves `bytes` at an `align`-byte boundary (64 by default) and returns the offset. */
  alloc(bytes: number, align = 64): number {
    if (!Number.isInteger(bytes) || bytes < 0) throw new RangeError(`arena: cannot allocate ${bytes} bytes`);
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
    if (mark > this.top) throw new RangeError('arena: release past the top');
    this.top = mark;
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

  /** An Int8Array view of n elements at ptr. */
  i8(ptr: number, n: number): Int8Array {
    return new Int8Array(this.memory.buffer, ptr, n);
  }
}

/** Rounds n up to a multiple of align (a power of two). */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
