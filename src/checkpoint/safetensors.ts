/**
 * safetensors files: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}`, then the data buffer.
 * Reading takes one tensor at a time from disk (the file is never loaded whole); writing goes to a
 * temporary name and is renamed when complete.
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';

/** Element types and their sizes in bytes. */
export const DTYPE_BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
/** A safetensors element type. */
export type DType = keyof typeof DTYPE_BYTES;

/** Where one tensor lies in a file (absolute byte offsets). */
export interface TensorInfo {
  dtype: DType;
  shape: number[];
  begin: number;
  end: number;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** An open safetensors file: the header parsed, tensors read on demand. */
export class SafetensorsFile {
  private constructor(
    /** The path, for messages. */
    readonly path: string,
    private readonly fd: number,
    /** Every tensor by name. */
    readonly tensors: ReadonlyMap<string, TensorInfo>,
    /** The `__metadata__` strings. */
    readonly metadata: Readonly<Record<string, string>>,
  ) {}

  /** Opens and validates a file; the error names the file and what is wrong. */
  static open(path: string): SafetensorsFile {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size < 8) throw new Error(`${path}: not a safetensors file (${size} bytes)`);
      const lenBuf = Buffer.alloc(8);
      readSync(fd, lenBuf, 0, 8, 0);
      const headerLen = Number(lenBuf.readBigUInt64LE(0));
      if (headerLen < 2 || headerLen > 100_000_000 || 8 + headerLen > size) {
        throw new Error(`${path}: not a safetensors file (header length ${headerLen} in a ${size}-byte file)`);
      }
      const headerBuf = Buffer.alloc(headerLen);
      readSync(fd, headerBuf, 0, headerLen, 8);
      let header: Record<string, unknown>;
      try {
        header = JSON.parse(headerBuf.toString('utf8'));
      } catch {
        throw new Error(`${path}: not a safetensors file (the header is not JSON)`);
      }
      if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${path}: the safetensors header is not an object`);
      const dataStart = 8 + headerLen;
      const tensors = new Map<string, TensorInfo>();
      let metadata: Record<string, string> = {};
      for (const [name, raw] of Object.entries(header)) {
        if (name === '__metadata__') { metadata = raw as Record<string, string>; continue; }
        const t = raw as { dtype?: string; shape?: number[]; data_offsets?: number[] };
        if (!t || typeof t.dtype !== 'string' || !(t.dtype in DTYPE_BYTES)) throw new Error(`${path}: tensor ${name} has unsupported dtype ${t?.dtype}`);
        if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${path}: tensor ${name} has a bad shape`);
        if (!Array.isArray(t.data_offsets) || t.data_offsets.length !== 2) throw new Error(`${path}: tensor ${name} has bad data_offsets`);
        const [b, e] = t.data_offsets;
        const dtype = t.dtype as DType;
        const want = numel(t.shape) * DTYPE_BYTES[dtype];
        if (!(Number.isInteger(b) && Number.isInteger(e) && b >= 0 && e - b === want)) {
          throw new Error(`${path}: tensor ${name} spans bytes ${b}..${e} but ${dtype}${JSON.stringify(t.shape)} needs ${want}`);
        }
        if (dataStart + e > size) throw new Error(`${path}: tensor ${name} ends at byte ${dataStart + e}, past the end of the file (${size} bytes): truncated?`);
        tensors.set(name, { dtype, shape: t.shape, begin: dataStart + b, end: dataStart + e });
      }
      return new SafetensorsFile(path, fd, tensors, metadata);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  /** The tensor's description; the error names the file and the tensor. */
  info(name: string): TensorInfo {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`${this.path}: no tensor named ${name}`);
    return t;
  }

  /** Reads a tensor's raw little-endian bytes into `into` (or a fresh buffer). */
  readBytes(name: string, into?: Uint8Array): Uint8Array {
    const t = this.info(name);
    const n = t.end - t.begin;
    const out = into ?? new Uint8Array(n);
    if (out.byteLength !== n) throw new Error(`${this.path}: tensor ${name} has ${n} bytes, the destination ${out.byteLength}`);
    let done = 0;
    while (done < n) {
      const got = readSync(this.fd, out, done, Math.min(n - done, 1 << 30), t.begin + done);
      if (got <= 0) throw new Error(`${this.path}: tensor ${name} could not be read (truncated file?)`);
      done += got;
    }
    return out;
  }

  /** Reads a floating-point tensor (F32, F16, BF16, F64) as f32 values. */
  readF32(name: string): Float32Array {
    const t = this.info(name);
    const bytes = this.readBytes(name);
    return toF32(bytes, t.dtype, `${this.path}: tensor ${name}`);
  }

  /** Closes the file. */
  close(): void {
    closeSync(this.fd);
  }
}

/** Converts raw little-endian bytes of a floating-point dtype to f32; `what` names it in errors. */
export function toF32(bytes: Uint8Array, dtype: DType, what: string): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  const aligned = bytes.byteOffset % 8 === 0 ? bytes : bytes.slice();
  switch (dtype) {
    case 'F32':
      return new Float32Array(aligned.buffer, aligned.byteOffset, n).slice();
    case 'F64':
      return Float32Array.from(new Float64Array(aligned.buffer, aligned.byteOffset, n));
    case 'BF16': {
      const u = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = u[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const u = new Uint16Array(aligned.buffer, aligned.byteOffset, n);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = halfToFloat(u[i]);
      return out;
    }
    default:
      throw new Error(`${what}: dtype ${dtype} is not a floating-point type`);
  }
}

/** IEEE half precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
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
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of tensors) {
    const want = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (t.data.byteLength !== want) throw new Error(`${path}: tensor ${t.name} has ${t.data.byteLength} bytes, ${t.dtype}${JSON.stringify(t.shape)} needs ${want}`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + want] };
    offset += want;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8); // keep the data 8-byte aligned
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8, 'utf8');
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    writeSync(fd, head);
    for (const t of tensors) writeSync(fd, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    closeSync(fd);
    renameSync(tmp, path);
  } catch (err) {
    try { closeSync(fd); } catch { /* already closed */ }
    rmSync(tmp, { force: true });
    throw err;
  }
}
