/**
 * Writing safetensors files (the format is described in safetensors_file.ts, which reads them):
 * one tensor at a time, the per-tensor CRC-32s filled into `__metadata__` at the end, through a
 * temporary name renamed into place. The header is safetensors_bytes.ts's, so a file written here
 * holds the bytes that safetensorsBytes makes in memory.
 */
import { closeSync, openSync, renameSync, rmSync } from 'node:fs';
import { crc32, crcHex } from './crc32.ts';
import { tensorBytes, type DType } from './dtypes.ts';
import { checkTensorNames, safetensorsHeader } from './safetensors_bytes.ts';
import type { TensorInfo } from './store.ts';
import { temporaryName } from '../io/atomic.ts';
import { writeAll } from '../io/write_all.ts';

export { CRC_KEY, SafetensorsFile } from './safetensors_file.ts';

/**
 * Writes a safetensors file at `path` (the caller renames it into place), one tensor at a time in
 * the order given up front: the header goes first with placeholder checksums, which `finish`
 * fills in (the same number of bytes).
 */
export class SafetensorsWriter {
  private readonly fd: number;
  private readonly crcs = new Map<string, string>();
  private next = 0;
  private position: number;

  constructor(
    readonly path: string,
    private readonly entries: [string, TensorInfo][],
    private readonly metadata: Record<string, string> = {},
  ) {
    checkTensorNames(path, entries);
    for (const [name] of entries) this.crcs.set(name, '00000000');
    this.fd = openSync(path, 'wx');
    this.position = this.writeHeader();
  }

  private writeHeader(): number {
    const head = safetensorsHeader(this.entries, this.metadata, this.crcs);
    writeAll(this.fd, head, 0);
    return head.length;
  }

  /** The next entry, which must be `name`; errors name the file and tensor. */
  private expect(name: string): { what: string; type: string; want: number } {
    const entry = this.entries[this.next];
    if (!entry || entry[0] !== name)
      throw new Error(
        `${this.path}: tensor ${name} written out of order (expected ${entry?.[0] ?? 'no more tensors'})`,
      );
    return {
      what: `${this.path}: tensor ${name}`,
      type: `${entry[1].dtype}[${entry[1].shape}]`,
      want: tensorBytes(entry[1].dtype, entry[1].shape),
    };
  }

  /** Writes `chunk` at `done` bytes into the current tensor, which needs `want` in all. */
  private put(chunk: Uint8Array, done: number, e: { what: string; type: string; want: number }): number {
    if (done + chunk.length > e.want)
      throw new Error(`${e.what} has ${done + chunk.length} bytes or more, ${e.type} needs ${e.want}`);
    writeAll(this.fd, chunk, this.position + done);
    return done + chunk.length;
  }

  private end(name: string, done: number, crc: number, e: { what: string; type: string; want: number }): void {
    if (done !== e.want) throw new Error(`${e.what} has ${done} bytes, ${e.type} needs ${e.want}`);
    this.position += done;
    this.crcs.set(name, crcHex(crc));
    this.next++;
  }

  /** Appends the next tensor's bytes (its name and size must be the next entry's). */
  add(name: string, bytes: Uint8Array): void {
    const e = this.expect(name);
    this.end(name, this.put(bytes, 0, e), crc32(bytes), e);
  }

  /**
   * Appends the next tensor from its bytes in pieces, each written as it comes (a tensor never
   * needs to be whole in memory; a piece may be reused once the next is asked for). The event
   * loop gets a turn every 100 ms, so that Ctrl-C is handled while a large tensor is written.
   */
  async addChunks(name: string, chunks: Iterable<Uint8Array>): Promise<void> {
    const e = this.expect(name);
    let done = 0,
      crc = 0,
      turn = performance.now();
    for (const chunk of chunks) {
      done = this.put(chunk, done, e);
      crc = crc32(chunk, crc);
      if (performance.now() - turn > 100) {
        await new Promise((resolve) => setTimeout(resolve, 0));
        turn = performance.now();
      }
    }
    this.end(name, done, crc, e);
  }

  /** Writes the checksums and closes the file; every tensor must have been added. */
  finish(): void {
    if (this.next !== this.entries.length)
      throw new Error(`${this.path}: only ${this.next} of ${this.entries.length} tensors were written`);
    this.writeHeader();
    closeSync(this.fd);
  }

  /** Closes the file after a failure (the caller removes it). */
  abort(): void {
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}

/** One tensor to write: raw data in the dtype's little-endian layout. */
export interface TensorToWrite {
  name: string;
  dtype: DType;
  shape: number[];
  data: ArrayBufferView;
}

/** Writes tensors (in the given order) to `path` through a temporary file renamed at the end. */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata?: Record<string, string>): void {
  const tmp = temporaryName(path);
  let writer: SafetensorsWriter | undefined;
  try {
    writer = new SafetensorsWriter(
      tmp,
      tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape }]),
      metadata,
    );
    for (const t of tensors) writer.add(t.name, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    writer.finish();
    renameSync(tmp, path);
  } catch (err) {
    writer?.abort();
    rmSync(tmp, { force: true });
    throw err;
  }
}
