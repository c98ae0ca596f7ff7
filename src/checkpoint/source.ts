/**
 * Random-access bytes for the checkpoint readers: a file (read a piece at a time, never whole)
 * or a buffer in memory (the fuzz tests). `readChecked` reads a range in chunks and checks its
 * CRC-32; the asynchronous form reads the next chunk while it checksums the last, so a verified
 * load costs little more than the read.
 */
import { nodeBuiltins } from '../runtime/host.ts';
import { crc32, crcHex } from './crc32.ts';

/** node:fs where the engine has it; in a browser only MemorySource works. */
const fs = nodeBuiltins ? await import('node:fs') : undefined;

/** Bytes that can be read at any position. */
export interface ByteSource {
  /** the path, for messages */
  readonly where: string;
  readonly size: number;
  /** Fills `into` with the bytes at `position`; throws (naming the file) if they run past the end. */
  readSync(into: Uint8Array, position: number): void;
  /** The same, without blocking the thread. */
  read(into: Uint8Array, position: number): Promise<void>;
  close(): void;
}

const CHUNK = 2 << 20;

function pastEnd(where: string, position: number, n: number, size: number): Error {
  return new Error(`${where}: ${n} bytes at ${position} run past the end of the file (${size} bytes): truncated?`);
}

/** A file opened for reading. */
export class FileSource implements ByteSource {
  private constructor(
    readonly where: string,
    private readonly fs: typeof import('node:fs'),
    private readonly fd: number,
    readonly size: number,
  ) {}

  /** Opens `path`; the error names it. */
  static open(path: string): FileSource {
    if (!fs) throw new Error(`${path}: this engine has no file system (read the bytes and use MemorySource)`);
    let fd: number;
    try {
      fd = fs.openSync(path, 'r');
    } catch (err) {
      throw new Error(`${path}: cannot open (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    return new FileSource(path, fs, fd, fs.fstatSync(fd).size);
  }

  readSync(into: Uint8Array, position: number): void {
    if (position + into.length > this.size) throw pastEnd(this.where, position, into.length, this.size);
    for (let done = 0; done < into.length; ) {
      const got = this.fs.readSync(this.fd, into, done, Math.min(into.length - done, 1 << 30), position + done);
      if (got <= 0) throw pastEnd(this.where, position, into.length, this.size);
      done += got;
    }
  }

  async read(into: Uint8Array, position: number): Promise<void> {
    if (position + into.length > this.size) throw pastEnd(this.where, position, into.length, this.size);
    for (let done = 0; done < into.length; ) {
      const got = await new Promise<number>((resolve, reject) => {
        this.fs.read(this.fd, into, done, Math.min(into.length - done, 1 << 30), position + done, (err, n) =>
          err ? reject(err) : resolve(n),
        );
      });
      if (got <= 0) throw pastEnd(this.where, position, into.length, this.size);
      done += got;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.fs.closeSync(this.fd);
  }
  private closed = false;
}

/** Bytes in memory, read as if they were a file named `where`. */
export class MemorySource implements ByteSource {
  readonly size: number;
  constructor(
    readonly where: string,
    private readonly bytes: Uint8Array,
  ) {
    this.size = bytes.length;
  }

  readSync(into: Uint8Array, position: number): void {
    if (position + into.length > this.size) throw pastEnd(this.where, position, into.length, this.size);
    into.set(this.bytes.subarray(position, position + into.length));
  }

  async read(into: Uint8Array, position: number): Promise<void> {
    this.readSync(into, position);
  }

  close(): void {}
}

function checkCrc(got: number, want: number | undefined, what: string): void {
  if (want !== undefined && got !== want)
    throw new Error(
      `${what}: checksum mismatch (CRC-32 ${crcHex(got)}, the file records ${crcHex(want)}): the file is corrupt`,
    );
}

/** Reads `into.length` bytes at `position` and checks them against `crc` when given; `what` names them. */
export function readCheckedSync(
  src: ByteSource,
  into: Uint8Array,
  position: number,
  crc: number | undefined,
  what: string,
): void {
  src.readSync(into, position);
  if (crc !== undefined) checkCrc(crc32(into), crc, what);
}

/** As readCheckedSync, reading chunk k+1 while chunk k is checksummed. */
export async function readChecked(
  src: ByteSource,
  into: Uint8Array,
  position: number,
  crc: number | undefined,
  what: string,
): Promise<void> {
  const n = into.length;
  if (crc === undefined || n <= CHUNK) {
    await src.read(into, position);
    if (crc !== undefined) checkCrc(crc32(into), crc, what);
    return;
  }
  let value = 0;
  let pending = src.read(into.subarray(0, CHUNK), position);
  for (let at = 0; at < n; at += CHUNK) {
    await pending;
    const next = at + CHUNK;
    if (next < n) pending = src.read(into.subarray(next, Math.min(n, next + CHUNK)), position + next);
    value = crc32(into.subarray(at, Math.min(n, next)), value);
  }
  checkCrc(value, crc, what);
}
