/**
 * MindSpore `.ckpt` files (SPEC.md §9; the message definitions are in
 * test/reference/checkpoint.proto): a protobuf `Checkpoint { repeated Value value = 1 }`,
 * `Value { string tag = 1; TensorProto tensor = 2 }`, `TensorProto { repeated int64 dims = 1;
 * string tensor_type = 2; bytes tensor_content = 3 }`, written as one `Checkpoint` message per
 * parameter piece: MindSpore splits a large parameter into several values with the same tag and
 * the full dims, whose contents concatenate. A scalar may be stored with dims `[0]`.
 *
 * The reader walks the protobuf framing without loading tensor contents (it records where each
 * lies) and reads one parameter at a time. Files written here add to each TensorProto a field
 * 100, `fixed32 wasmformers_crc32`, the CRC-32 of that piece's content, checked on every read;
 * protobuf readers that do not know the field (MindSpore's) skip it.
 */
import { closeSync, openSync } from 'node:fs';
import { crc32 } from './crc32.ts';
import { DTYPE_BYTES, dtypeFromMindSpore, dtypeToMindSpore, numel, tensorBytes } from './dtypes.ts';
import { FileSource, readChecked, readCheckedSync, type ByteSource } from './source.ts';
import { infoOf, type TensorInfo, type TensorStore } from './store.ts';
import { writeAll } from '../io/write_all.ts';
import { fieldHead, varintBytes, Wire } from '../tokenizer/protobuf.ts';

/** The TensorProto field that holds a piece's CRC-32. */
export const CRC_FIELD = 100;
/** MindSpore's largest piece: 512 MiB. */
export const SLICE_BYTES = 512 << 20;
const MAX_STRING = 1 << 16;

/** One value's content: where it lies and its checksum. */
interface Piece {
  position: number;
  length: number;
  crc?: number;
}

/** One parsed Value. */
interface RawValue {
  tag: string;
  dims: number[];
  type: string;
  piece: Piece;
}

/** Walks protobuf fields of a byte source through a small window (contents are skipped, not read). */
class Cursor {
  private window = new Uint8Array(0);
  private windowAt = 0;
  pos = 0;

  constructor(private readonly src: ByteSource) {}

  fail(what: string): never {
    throw new Error(`${this.src.where}: not a MindSpore checkpoint (${what} at byte ${this.pos})`);
  }

  private byte(end: number): number {
    if (this.pos >= end)
      this.fail(
        this.pos >= this.src.size ? 'the file ends inside a value: truncated?' : 'a field runs past its message',
      );
    const i = this.pos - this.windowAt;
    if (i < 0 || i >= this.window.length) {
      this.windowAt = this.pos;
      this.window = new Uint8Array(Math.min(1 << 16, this.src.size - this.pos));
      this.src.readSync(this.window, this.pos);
    }
    this.pos++;
    return this.window[this.pos - 1 - this.windowAt];
  }

  /** A varint up to 2^53 (larger ones, and negative int64s, are errors). */
  varint(end: number, what: string): number {
    let value = 0,
      scale = 1;
    for (let i = 0; i < 10; i++) {
      const b = this.byte(end);
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        if (!Number.isSafeInteger(value)) this.fail(`${what} ${value} is out of range`);
        return value;
      }
      scale *= 128;
    }
    return this.fail(`${what} is a varint longer than 10 bytes`);
  }

  fixed32(end: number): number {
    let v = 0;
    for (let i = 0; i < 4; i++) v += this.byte(end) * 2 ** (8 * i);
    return v;
  }

  /** The end of a length-delimited field that starts here. */
  span(end: number, what: string): number {
    const n = this.varint(end, `length of ${what}`);
    if (this.pos + n > end)
      this.fail(
        `${what} of ${n} bytes runs past ${end >= this.src.size ? 'the end of the file: truncated?' : 'its message'}`,
      );
    return this.pos + n;
  }

  string(end: number, what: string): string {
    const stop = this.span(end, what);
    if (stop - this.pos > MAX_STRING) this.fail(`${what} of ${stop - this.pos} bytes is too long`);
    const bytes = new Uint8Array(stop - this.pos);
    for (let i = 0; i < bytes.length; i++) bytes[i] = this.byte(stop);
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return this.fail(`${what} is not UTF-8`);
    }
  }

  /** Skips a field of the given wire type. */
  skip(wire: number, end: number): void {
    if (wire === 0) this.varint(end, 'a varint');
    else if (wire === 1) this.pos = this.need(end, 8);
    else if (wire === 5) this.pos = this.need(end, 4);
    else if (wire === 2) this.pos = this.span(end, 'a field');
    else this.fail(`wire type ${wire}`);
  }

  private need(end: number, n: number): number {
    if (this.pos + n > end) this.fail('a field runs past its message');
    return this.pos + n;
  }
}

function parseTensor(c: Cursor, end: number, tag: string): Omit<RawValue, 'tag'> {
  const dims: number[] = [];
  let type: string | undefined, piece: Piece | undefined, crc: number | undefined;
  while (c.pos < end) {
    const key = c.varint(end, 'a field key'),
      field = Math.floor(key / 8),
      wire = key % 8;
    if (field === 1 && wire === 0) dims.push(c.varint(end, `a dimension of ${tag}`));
    else if (field === 1 && wire === 2) {
      const stop = c.span(end, `the dims of ${tag}`);
      while (c.pos < stop) dims.push(c.varint(stop, `a dimension of ${tag}`));
    } else if (field === 2 && wire === 2) type = c.string(end, `the tensor_type of ${tag}`);
    else if (field === 3 && wire === 2) {
      const stop = c.span(end, `the tensor_content of ${tag}`);
      piece = { position: c.pos, length: stop - c.pos };
      c.pos = stop;
    } else if (field === CRC_FIELD && wire === 5) crc = c.fixed32(end);
    else c.skip(wire, end);
  }
  if (type === undefined) c.fail(`parameter ${tag} has no tensor_type`);
  if (!piece) c.fail(`parameter ${tag} has no tensor_content`);
  if (crc !== undefined) piece.crc = crc;
  return { dims, type, piece };
}

function parseValue(c: Cursor, end: number): RawValue {
  let tag: string | undefined;
  let tensorAt = -1,
    tensorEnd = -1;
  while (c.pos < end) {
    const key = c.varint(end, 'a field key'),
      field = Math.floor(key / 8),
      wire = key % 8;
    if (field === 1 && wire === 2) tag = c.string(end, 'a parameter name');
    else if (field === 2 && wire === 2) {
      tensorEnd = c.span(end, 'a tensor');
      tensorAt = c.pos;
      c.pos = tensorEnd;
    } else if (field === 3 && wire === 2) c.fail(`parameter ${tag ?? '?'} is a map tensor, which is not supported`);
    else c.skip(wire, end);
  }
  if (tag === undefined) c.fail('a value without a tag');
  if (tensorAt < 0) c.fail(`parameter ${tag} has no tensor`);
  const after = c.pos;
  c.pos = tensorAt;
  const tensor = parseTensor(c, tensorEnd, tag);
  c.pos = after;
  return { tag, ...tensor };
}

/** An open MindSpore checkpoint: every parameter located, contents read on demand. */
export class CkptFile implements TensorStore {
  readonly where: string;
  readonly tensors = new Map<string, TensorInfo>();
  readonly metadata = {};
  private readonly pieces = new Map<string, Piece[]>();

  private constructor(private readonly src: ByteSource) {
    this.where = src.where;
    const c = new Cursor(src);
    let last: RawValue | undefined;
    const group: RawValue[] = [];
    const flush = () => {
      if (group.length) this.addParameter(group.splice(0));
    };
    while (c.pos < src.size) {
      const key = c.varint(src.size, 'a field key'),
        field = Math.floor(key / 8),
        wire = key % 8;
      if (field !== 1 || wire !== 2) {
        c.skip(wire, src.size);
        continue;
      }
      const end = c.span(src.size, 'a value');
      const v = parseValue(c, end);
      c.pos = end;
      if (last && last.tag !== v.tag) flush();
      if (this.tensors.has(v.tag)) throw new Error(`${this.where}: parameter ${v.tag} appears twice`);
      group.push(v);
      last = v;
    }
    flush();
  }

  /** Records one parameter from its consecutive values; errors name it. */
  private addParameter(values: RawValue[]): void {
    const { tag, dims, type } = values[0];
    const dtype = dtypeFromMindSpore(type);
    if (!dtype)
      throw new Error(
        `${this.where}: parameter ${tag} has tensor_type ${JSON.stringify(type)}, which is not supported`,
      );
    for (const v of values) {
      if (v.type !== type || v.dims.join() !== dims.join())
        throw new Error(`${this.where}: the pieces of parameter ${tag} disagree on type or dims`);
    }
    const total = values.reduce((s, v) => s + v.piece.length, 0);
    // MindSpore stores some scalars with dims [0] and one element.
    const shape = dims.length === 1 && dims[0] === 0 && total === DTYPE_BYTES[dtype] ? [] : dims;
    const n = numel(shape);
    if (!Number.isSafeInteger(n) || n * DTYPE_BYTES[dtype] !== total) {
      throw new Error(
        `${this.where}: parameter ${tag} is ${type}[${dims}], which needs ${n * DTYPE_BYTES[dtype]} bytes, but the file holds ${total}`,
      );
    }
    this.tensors.set(tag, { dtype, shape });
    this.pieces.set(
      tag,
      values.map((v) => v.piece),
    );
  }

  /** Opens and indexes a file; the error names the file and what is wrong. */
  static open(path: string): CkptFile {
    return CkptFile.from(FileSource.open(path));
  }

  /** Reads a checkpoint from any byte source (closed here if it is malformed). */
  static from(src: ByteSource): CkptFile {
    try {
      return new CkptFile(src);
    } catch (err) {
      src.close();
      throw err;
    }
  }

  /** Whether every piece carries a checksum. */
  get checksummed(): boolean {
    return [...this.pieces.values()].every((ps) => ps.every((p) => p.crc !== undefined));
  }

  private layout(name: string): { out: Uint8Array; pieces: Piece[] } {
    const t = infoOf(this, name);
    return { out: new Uint8Array(tensorBytes(t.dtype, t.shape)), pieces: this.pieces.get(name)! };
  }

  async read(name: string): Promise<Uint8Array> {
    const { out, pieces } = this.layout(name);
    let at = 0;
    for (const p of pieces) {
      await readChecked(
        this.src,
        out.subarray(at, at + p.length),
        p.position,
        p.crc,
        `${this.where}: parameter ${name}`,
      );
      at += p.length;
    }
    return out;
  }

  readSync(name: string): Uint8Array {
    const { out, pieces } = this.layout(name);
    let at = 0;
    for (const p of pieces) {
      readCheckedSync(this.src, out.subarray(at, at + p.length), p.position, p.crc, `${this.where}: parameter ${name}`);
      at += p.length;
    }
    return out;
  }

  close(): void {
    this.src.close();
  }
}

/** Writes a MindSpore checkpoint at `path` (the caller renames it into place), one parameter at a time. */
export class CkptWriter {
  private readonly fd: number;
  private position = 0;
  private readonly written = new Set<string>();

  /** `sliceBytes` is the largest piece (MindSpore's 512 MiB by default). */
  constructor(
    readonly path: string,
    private readonly sliceBytes = SLICE_BYTES,
  ) {
    this.fd = openSync(path, 'wx');
  }

  private write(bytes: Uint8Array): void {
    writeAll(this.fd, bytes, this.position);
    this.position += bytes.length;
  }

  /** Appends a parameter, split into pieces of at most `sliceBytes`, each with its checksum. */
  add(name: string, info: TensorInfo, bytes: Uint8Array): void {
    const what = `${this.path}: parameter ${name}`;
    if (this.written.has(name)) throw new Error(`${what} is written twice`);
    this.written.add(name);
    const want = tensorBytes(info.dtype, info.shape);
    if (bytes.length !== want)
      throw new Error(`${what} has ${bytes.length} bytes, ${info.dtype}[${info.shape}] needs ${want}`);
    const type = [...Buffer.from(dtypeToMindSpore(info.dtype, what), 'ascii')];
    const dims = info.shape.flatMap((d) => [...fieldHead(1, Wire.Varint), ...varintBytes(d)]);
    const tag = [...Buffer.from(name, 'utf8')];
    const step = Math.max(DTYPE_BYTES[info.dtype], this.sliceBytes - (this.sliceBytes % DTYPE_BYTES[info.dtype]));
    for (let at = 0; at === 0 || at < bytes.length; at += step) {
      const content = bytes.subarray(at, Math.min(bytes.length, at + step));
      const crc = crc32(content);
      const crcField = [
        ...fieldHead(CRC_FIELD, Wire.Fixed32),
        crc & 0xff,
        (crc >>> 8) & 0xff,
        (crc >>> 16) & 0xff,
        crc >>> 24,
      ];
      // Checkpoint.value { tag, tensor { dims..., tensor_type, tensor_content, crc } }
      const tensorHead = [
        ...dims,
        ...fieldHead(2, Wire.Bytes, type.length),
        ...type,
        ...fieldHead(3, Wire.Bytes, content.length),
      ];
      const tensorLength = tensorHead.length + content.length + crcField.length;
      const valueHead = [...fieldHead(1, Wire.Bytes, tag.length), ...tag, ...fieldHead(2, Wire.Bytes, tensorLength)];
      const valueLength = valueHead.length + tensorLength;
      this.write(Uint8Array.from([...fieldHead(1, Wire.Bytes, valueLength), ...valueHead, ...tensorHead]));
      this.write(content);
      this.write(Uint8Array.from(crcField));
    }
  }

  /** Closes the file. */
  finish(): void {
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
