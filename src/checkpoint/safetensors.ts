/**
 * safetensors files: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then
 * the data buffer, which the tensors tile exactly. Reading parses and checks the header, then
 * reads one tensor at a time. Files written here carry a CRC-32 per tensor in `__metadata__`
 * (key `wasmformers.crc32`, a JSON object name → 8 hex digits), checked on every read; files
 * from elsewhere load without one.
 */
import { closeSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { crc32, crcHex } from './crc32.ts';
import { decodeF32, DTYPE_BYTES, isDType, numel, tensorBytes, type DType } from './dtypes.ts';
import { FileSource, readChecked, readCheckedSync, type ByteSource } from './source.ts';
import { infoOf, type TensorInfo, type TensorStore } from './store.ts';
import { temporaryName } from '../data/atomic.ts';

/** The `__metadata__` key of the per-tensor checksums. */
export const CRC_KEY = 'wasmformers.crc32';
/** The largest header read (as the reference implementation limits it). */
const MAX_HEADER = 100_000_000;

/** Where a tensor lies in a file (absolute byte offsets). */
interface Located extends TensorInfo {
  begin: number;
  end: number;
}

/** Parses and checks the header of a safetensors file; errors name the file and what is wrong. */
function parseHeader(src: ByteSource): { tensors: Map<string, Located>; metadata: Record<string, string>; crcs: Map<string, number> } {
  const { where, size } = src;
  if (size < 8) throw new Error(`${where}: not a safetensors file (${size} bytes)`);
  const lenBuf = new Uint8Array(8);
  src.readSync(lenBuf, 0);
  const big = new DataView(lenBuf.buffer).getBigUint64(0, true);
  if (big < 2n || big > BigInt(size - 8)) throw new Error(`${where}: not a safetensors file (header length ${big} in a ${size}-byte file)`);
  const headerLen = Number(big);
  if (headerLen > MAX_HEADER) throw new Error(`${where}: the safetensors header is ${headerLen} bytes, more than the ${MAX_HEADER} allowed`);
  const headerBuf = new Uint8Array(headerLen);
  src.readSync(headerBuf, 8);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuf));
  } catch {
    throw new Error(`${where}: not a safetensors file (the header is not JSON)`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new Error(`${where}: not a safetensors file (the header is not a JSON object)`);
  const dataStart = 8 + headerLen, dataSize = size - dataStart;
  const tensors = new Map<string, Located>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || !Object.values(raw).every((v) => typeof v === 'string')) {
        throw new Error(`${where}: __metadata__ must map names to strings`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const t = (raw ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(t.dtype)) throw new Error(`${where}: tensor ${name} has unsupported dtype ${JSON.stringify(t.dtype)}`);
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new Error(`${where}: tensor ${name} has a bad shape ${JSON.stringify(shape)}`);
    const offsets = t.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new Error(`${where}: tensor ${name} has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [b, e] = offsets as number[];
    const want = numel(shape) * DTYPE_BYTES[t.dtype];
    if (!(e >= b) || e - b !== want) throw new Error(`${where}: tensor ${name} spans bytes ${b}..${e} but ${t.dtype}[${shape}] needs ${want}`);
    if (e > dataSize) throw new Error(`${where}: tensor ${name} ends at byte ${dataStart + e}, past the end of the file (${size} bytes): truncated?`);
    tensors.set(name, { dtype: t.dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  // The tensors must tile the data buffer: no overlap, no hole, nothing after the last one.
  let expected = dataStart;
  for (const [name, t] of [...tensors].filter(([, t]) => t.end > t.begin).sort((x, y) => x[1].begin - y[1].begin)) {
    if (t.begin !== expected) throw new Error(`${where}: tensor ${name} starts at byte ${t.begin}, expected ${expected} (tensors overlap or leave a hole)`);
    expected = t.end;
  }
  if (expected !== size) throw new Error(`${where}: ${size - expected} bytes after the last tensor`);
  return { tensors, metadata, crcs: parseCrcs(metadata, tensors, where) };
}

/** The per-tensor checksums of `__metadata__`, if the file has them. */
function parseCrcs(metadata: Record<string, string>, tensors: Map<string, Located>, where: string): Map<string, number> {
  const crcs = new Map<string, number>();
  if (!Object.hasOwn(metadata, CRC_KEY)) return crcs;
  let raw: unknown;
  try {
    raw = JSON.parse(metadata[CRC_KEY]);
  } catch {
    raw = undefined;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${where}: __metadata__.${CRC_KEY} is not a JSON object`);
  for (const [name, hex] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof hex !== 'string' || !/^[0-9a-f]{8}$/.test(hex)) throw new Error(`${where}: __metadata__.${CRC_KEY} has a bad checksum for ${name}`);
    if (!tensors.has(name)) throw new Error(`${where}: __metadata__.${CRC_KEY} names ${name}, which is not in the file`);
    crcs.set(name, parseInt(hex, 16));
  }
  return crcs;
}

/** An open safetensors file: the header parsed, tensors read on demand. */
export class SafetensorsFile implements TensorStore {
  readonly where: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>>;
  private readonly located: Map<string, Located>;
  private readonly crcs: Map<string, number>;

  private constructor(private readonly src: ByteSource) {
    this.where = src.where;
    const h = parseHeader(src);
    this.located = h.tensors;
    this.tensors = new Map([...h.tensors].map(([name, t]) => [name, { dtype: t.dtype, shape: t.shape }]));
    this.metadata = h.metadata;
    this.crcs = h.crcs;
  }

  /** Opens and checks a file; the error names the file and what is wrong. */
  static open(path: string): SafetensorsFile {
    return SafetensorsFile.from(FileSource.open(path));
  }

  /** Reads a safetensors file from any byte source (closed here if its header is bad). */
  static from(src: ByteSource): SafetensorsFile {
    try {
      return new SafetensorsFile(src);
    } catch (err) {
      src.close();
      throw err;
    }
  }

  /** Whether the file carries checksums. */
  get checksummed(): boolean {
    return this.crcs.size > 0;
  }

  private locate(name: string): Located {
    infoOf(this, name);
    return this.located.get(name)!;
  }

  async read(name: string): Promise<Uint8Array> {
    const t = this.locate(name);
    const out = new Uint8Array(t.end - t.begin);
    await readChecked(this.src, out, t.begin, this.crcs.get(name), `${this.where}: tensor ${name}`);
    return out;
  }

  readSync(name: string): Uint8Array {
    const t = this.locate(name);
    const out = new Uint8Array(t.end - t.begin);
    readCheckedSync(this.src, out, t.begin, this.crcs.get(name), `${this.where}: tensor ${name}`);
    return out;
  }

  /** A tensor's values as f32, blocking (any numeric dtype). */
  readF32(name: string): Float32Array {
    return decodeF32(this.readSync(name), this.locate(name).dtype, `${this.where}: tensor ${name}`);
  }

  close(): void {
    this.src.close();
  }
}

/** The header bytes (length prefix, JSON padded to keep the data 8-byte aligned). */
function headerBytes(entries: [string, TensorInfo][], metadata: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const [name, t] of entries) {
    const n = tensorBytes(t.dtype, t.shape);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = new Uint8Array(8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

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

  constructor(readonly path: string, private readonly entries: [string, TensorInfo][], private readonly metadata: Record<string, string> = {}) {
    const names = new Set<string>();
    for (const [name] of entries) {
      if (name === '__metadata__' || names.has(name)) throw new Error(`${path}: tensor name ${name} is reserved or repeated`);
      names.add(name);
      this.crcs.set(name, '00000000');
    }
    this.fd = openSync(path, 'wx');
    this.position = this.writeHeader();
  }

  private writeHeader(): number {
    const head = headerBytes(this.entries, { format: 'pt', ...this.metadata, [CRC_KEY]: JSON.stringify(Object.fromEntries(this.crcs)) });
    writeAll(this.fd, head, 0);
    return head.length;
  }

  /** The next entry, which must be `name`; errors name the file and tensor. */
  private expect(name: string): { what: string; type: string; want: number } {
    const entry = this.entries[this.next];
    if (!entry || entry[0] !== name) throw new Error(`${this.path}: tensor ${name} written out of order (expected ${entry?.[0] ?? 'no more tensors'})`);
    return { what: `${this.path}: tensor ${name}`, type: `${entry[1].dtype}[${entry[1].shape}]`, want: tensorBytes(entry[1].dtype, entry[1].shape) };
  }

  /** Writes `chunk` at `done` bytes into the current tensor, which needs `want` in all. */
  private put(chunk: Uint8Array, done: number, e: { what: string; type: string; want: number }): number {
    if (done + chunk.length > e.want) throw new Error(`${e.what} has ${done + chunk.length} bytes or more, ${e.type} needs ${e.want}`);
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
    let done = 0, crc = 0, turn = performance.now();
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
    if (this.next !== this.entries.length) throw new Error(`${this.path}: only ${this.next} of ${this.entries.length} tensors were written`);
    this.writeHeader();
    closeSync(this.fd);
  }

  /** Closes the file after a failure (the caller removes it). */
  abort(): void {
    try { closeSync(this.fd); } catch { /* already closed */ }
  }
}

function writeAll(fd: number, bytes: Uint8Array, position: number): void {
  for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30), position + done);
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
    writer = new SafetensorsWriter(tmp, tensors.map((t) => [t.name, { dtype: t.dtype, shape: t.shape }]), metadata);
    for (const t of tensors) writer.add(t.name, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    writer.finish();
    renameSync(tmp, path);
  } catch (err) {
    writer?.abort();
    rmSync(tmp, { force: true });
    throw err;
  }
}
