/**
 * Writing a GGUF v3 file in one pass: the header (metadata, then one record per tensor with its
 * offset, known up front from its type and shape), padding to the alignment, then each tensor's
 * bytes, each padded to the alignment. The caller gives a temporary path and renames it.
 */
import { closeSync, ftruncateSync, openSync } from 'node:fs';
import {
  alignUp,
  DEFAULT_ALIGNMENT,
  ggmlBytes,
  GGML_TYPES,
  GGUF_MAGIC,
  GGUF_VERSION,
  ValueType,
  type GgmlType,
  type TypedValue,
} from './format.ts';
import { writeAll } from '../../io/write_all.ts';

/** One tensor to write: GGUF name, type, dimensions innermost first, and its bytes when asked. */
export interface GgufTensor {
  name: string;
  type: GgmlType;
  dims: number[];
  bytes(): Promise<Uint8Array> | Uint8Array;
}

const utf8 = new TextEncoder();

/** A growing little-endian byte buffer. */
class Bytes {
  private buf = new Uint8Array(1 << 16);
  private dv = new DataView(this.buf.buffer);
  length = 0;
  private room(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = new Uint8Array(Math.max(2 * this.buf.length, this.length + n));
      next.set(this.buf.subarray(0, this.length));
      this.buf = next;
      this.dv = new DataView(next.buffer);
    }
    const at = this.length;
    this.length += n;
    return at;
  }
  // room() may replace the buffer, so it runs before the buffer is read
  u8(v: number): void {
    const at = this.room(1);
    this.buf[at] = v;
  }
  u32(v: number): void {
    const at = this.room(4);
    this.dv.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.room(4);
    this.dv.setInt32(at, v, true);
  }
  f32(v: number): void {
    const at = this.room(4);
    this.dv.setFloat32(at, v, true);
  }
  u64(v: number): void {
    const at = this.room(8);
    this.dv.setBigUint64(at, BigInt(v), true);
  }
  raw(b: Uint8Array): void {
    const at = this.room(b.length);
    this.buf.set(b, at);
  }
  string(s: string): void {
    const b = utf8.encode(s);
    this.u64(b.length);
    this.raw(b);
  }
  done(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }
}

function putValue(out: Bytes, v: TypedValue): void {
  switch (v.type) {
    case 'u32':
      out.u32(ValueType.U32);
      out.u32(v.value);
      break;
    case 'i32':
      out.u32(ValueType.I32);
      out.i32(v.value);
      break;
    case 'f32':
      out.u32(ValueType.F32);
      out.f32(v.value);
      break;
    case 'u64':
      out.u32(ValueType.U64);
      out.u64(v.value);
      break;
    case 'bool':
      out.u32(ValueType.BOOL);
      out.u8(v.value ? 1 : 0);
      break;
    case 'string':
      out.u32(ValueType.STRING);
      out.string(v.value);
      break;
    case 'strings':
      putArray(out, ValueType.STRING, v.value, (s) => out.string(s));
      break;
    case 'f32s':
      putArray(out, ValueType.F32, v.value, (x) => out.f32(x));
      break;
    case 'i32s':
      putArray(out, ValueType.I32, v.value, (x) => out.i32(x));
      break;
  }
}

/** An array value: its element type, its length, then each element as `put` writes it. */
function putArray<T>(out: Bytes, type: ValueType, values: ArrayLike<T>, put: (value: T) => void): void {
  out.u32(ValueType.ARRAY);
  out.u32(type);
  out.u64(values.length);
  for (let i = 0; i < values.length; i++) put(values[i]);
}

/**
 * Writes a GGUF file at `path` (which must not exist); `onTensor` is called after each tensor.
 * A tensor whose bytes are not what its type and dimensions need is an error naming it.
 */
export async function writeGguf(
  path: string,
  metadata: [string, TypedValue][],
  tensors: GgufTensor[],
  onTensor?: (t: GgufTensor) => void,
): Promise<void> {
  const head = new Bytes();
  head.u32(GGUF_MAGIC);
  head.u32(GGUF_VERSION);
  head.u64(tensors.length);
  head.u64(metadata.length + 1);
  head.string('general.alignment');
  putValue(head, { type: 'u32', value: DEFAULT_ALIGNMENT });
  for (const [key, value] of metadata) {
    head.string(key);
    putValue(head, value);
  }
  let offset = 0;
  const sizes: number[] = [];
  for (const t of tensors) {
    const n = t.dims.reduce((a, b) => a * b, 1);
    if (t.dims[0] % GGML_TYPES[t.type].block !== 0)
      throw new Error(
        `${path}: tensor ${t.name} has rows of ${t.dims[0]} values, not a whole number of ${t.type} blocks`,
      );
    head.string(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(GGML_TYPES[t.type].id);
    head.u64(offset);
    sizes.push(ggmlBytes(t.type, n));
    offset = alignUp(offset + sizes[sizes.length - 1], DEFAULT_ALIGNMENT);
  }
  const fd = openSync(path, 'wx');
  try {
    const header = head.done(),
      dataStart = alignUp(header.length, DEFAULT_ALIGNMENT);
    writeAll(fd, header, 0);
    let at = dataStart;
    for (const [i, t] of tensors.entries()) {
      const bytes = await t.bytes();
      if (bytes.length !== sizes[i])
        throw new Error(`${path}: tensor ${t.name} has ${bytes.length} bytes, ${t.type}[${t.dims}] needs ${sizes[i]}`);
      writeAll(fd, bytes, at);
      at = alignUp(at + bytes.length, DEFAULT_ALIGNMENT);
      onTensor?.(t);
    }
    ftruncateSync(fd, dataStart + offset); // the last tensor's padding; the gaps read as zeros
  } finally {
    closeSync(fd);
  }
}
