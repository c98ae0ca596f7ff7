/**
 * Parsing a GGUF file's header: metadata and tensor records, read from the start of the file
 * (more of it when the first read is too short). Errors name the file and the key or tensor.
 */
import type { ByteSource } from '../source.ts';
import {
  alignUp,
  DEFAULT_ALIGNMENT,
  GGML_TYPES,
  ggmlTypeOf,
  GGUF_MAGIC,
  GGUF_VERSION,
  ValueType,
  type GgmlType,
  type MetaValue,
} from './format.ts';

/** A tensor record: its GGUF name, type, dimensions (innermost first) and absolute byte range. */
export interface TensorRecord {
  name: string;
  type: GgmlType;
  dims: number[];
  begin: number;
  end: number;
}

/** What the header says. */
export interface GgufHeader {
  version: number;
  metadata: Map<string, MetaValue>;
  tensors: Map<string, TensorRecord>;
  /** where tensor data starts */
  dataStart: number;
}

/** The header ran past the bytes read so far. */
class NeedMore extends Error {}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A reading position in the first bytes of the file. */
class Cursor {
  at = 0;
  private readonly dv: DataView;
  constructor(
    private readonly bytes: Uint8Array,
    private readonly whole: boolean,
    private readonly where: string,
  ) {
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  private take(n: number): number {
    if (this.at + n > this.bytes.length) {
      if (this.whole)
        throw new Error(
          `${this.where}: the GGUF header runs past the end of the file (${this.bytes.length} bytes): truncated?`,
        );
      throw new NeedMore();
    }
    const at = this.at;
    this.at += n;
    return at;
  }
  u8(): number {
    return this.bytes[this.take(1)];
  }
  u32(): number {
    return this.dv.getUint32(this.take(4), true);
  }
  u64(what: string): number {
    const v = this.dv.getBigUint64(this.take(8), true);
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${this.where}: ${what} is ${v}, too large`);
    return Number(v);
  }
  string(what: string): string {
    const n = this.u64(`the length of ${what}`),
      at = this.take(n);
    try {
      return utf8.decode(this.bytes.subarray(at, at + n));
    } catch {
      throw new Error(`${this.where}: ${what} is not valid UTF-8`);
    }
  }
  value(type: number, key: string): MetaValue {
    const at = (n: number) => this.take(n);
    switch (type) {
      case ValueType.U8:
        return this.u8();
      case ValueType.I8:
        return this.dv.getInt8(at(1));
      case ValueType.U16:
        return this.dv.getUint16(at(2), true);
      case ValueType.I16:
        return this.dv.getInt16(at(2), true);
      case ValueType.U32:
        return this.u32();
      case ValueType.I32:
        return this.dv.getInt32(at(4), true);
      case ValueType.F32:
        return this.dv.getFloat32(at(4), true);
      case ValueType.F64:
        return this.dv.getFloat64(at(8), true);
      case ValueType.BOOL:
        return this.u8() !== 0;
      case ValueType.STRING:
        return this.string(`key ${key}`);
      case ValueType.U64: {
        const v = this.dv.getBigUint64(at(8), true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case ValueType.I64: {
        const v = this.dv.getBigInt64(at(8), true);
        return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= -BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
      }
      case ValueType.ARRAY: {
        const itemType = this.u32(),
          n = this.u64(`the length of key ${key}`);
        if (itemType === ValueType.F32) {
          const s = at(4 * n);
          return new Float32Array(this.bytes.slice(s, s + 4 * n).buffer);
        }
        if (itemType === ValueType.I32) {
          const s = at(4 * n);
          return new Int32Array(this.bytes.slice(s, s + 4 * n).buffer);
        }
        if (itemType === ValueType.ARRAY)
          throw new Error(`${this.where}: key ${key} is an array of arrays, which is not read`);
        const out: MetaValue[] = new Array(n);
        for (let i = 0; i < n; i++) out[i] = this.value(itemType, key);
        return out;
      }
      default:
        throw new Error(`${this.where}: key ${key} has unknown value type ${type}`);
    }
  }
}

/** Parses the header of `src`; errors name the file and what is wrong. */
export function parseHeader(src: ByteSource): GgufHeader {
  for (let n = Math.min(src.size, 1 << 20); ; n = Math.min(src.size, 4 * n)) {
    const bytes = new Uint8Array(n);
    src.readSync(bytes, 0);
    try {
      return parse(new Cursor(bytes, n === src.size, src.where), src);
    } catch (err) {
      if (!(err instanceof NeedMore)) throw err;
    }
  }
}

function parse(c: Cursor, src: ByteSource): GgufHeader {
  const where = src.where;
  if (src.size < 24 || c.u32() !== GGUF_MAGIC) throw new Error(`${where}: not a GGUF file (no GGUF magic)`);
  const version = c.u32();
  if (version !== 2 && version !== GGUF_VERSION)
    throw new Error(`${where}: GGUF version ${version} is not supported (only 2 and 3)`);
  const nTensors = c.u64('the tensor count'),
    nKeys = c.u64('the key count');
  const metadata = new Map<string, MetaValue>();
  for (let i = 0; i < nKeys; i++) {
    const key = c.string(`key ${i}'s name`);
    if (metadata.has(key)) throw new Error(`${where}: key ${key} appears twice`);
    metadata.set(key, c.value(c.u32(), key));
  }
  const align = metadata.get('general.alignment') ?? DEFAULT_ALIGNMENT;
  if (typeof align !== 'number' || !(align > 0) || (align & (align - 1)) !== 0)
    throw new Error(`${where}: key general.alignment must be a power of two, got ${align}`);
  const raw: { name: string; type: GgmlType; dims: number[]; offset: number }[] = [];
  for (let i = 0; i < nTensors; i++) {
    const name = c.string(`tensor ${i}'s name`),
      nDims = c.u32();
    if (nDims < 1 || nDims > 4) throw new Error(`${where}: tensor ${name} has ${nDims} dimensions (1 to 4 allowed)`);
    const dims: number[] = [];
    for (let d = 0; d < nDims; d++) dims.push(c.u64(`tensor ${name}'s dimension ${d}`));
    const typeId = c.u32(),
      type = ggmlTypeOf(typeId);
    if (!type)
      throw new Error(
        `${where}: tensor ${name} has ggml type ${typeId}, which is not read (${Object.keys(GGML_TYPES).join(', ')} are)`,
      );
    raw.push({ name, type, dims, offset: c.u64(`tensor ${name}'s offset`) });
  }
  const dataStart = alignUp(c.at, align);
  const tensors = new Map<string, TensorRecord>();
  for (const t of raw) {
    if (tensors.has(t.name)) throw new Error(`${where}: tensor ${t.name} appears twice`);
    const n = t.dims.reduce((a, b) => a * b, 1),
      block = GGML_TYPES[t.type].block;
    if (t.dims[0] % block !== 0)
      throw new Error(
        `${where}: tensor ${t.name} has rows of ${t.dims[0]} values, not a whole number of ${t.type} blocks of ${block}`,
      );
    if (t.offset % align !== 0)
      throw new Error(
        `${where}: tensor ${t.name} starts at data offset ${t.offset}, not a multiple of the alignment ${align}`,
      );
    const begin = dataStart + t.offset,
      end = begin + (n / block) * GGML_TYPES[t.type].bytes;
    if (end > src.size)
      throw new Error(
        `${where}: tensor ${t.name} ends at byte ${end}, past the end of the file (${src.size} bytes): truncated?`,
      );
    tensors.set(t.name, { name: t.name, type: t.type, dims: t.dims, begin, end });
  }
  const sorted = [...tensors.values()].sort((a, b) => a.begin - b.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end)
      throw new Error(`${where}: tensors ${sorted[i - 1].name} and ${sorted[i].name} overlap`);
  }
  return { version, metadata, tensors, dataStart };
}
