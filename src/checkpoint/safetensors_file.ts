/**
 * Reading safetensors files: an 8-byte little-endian header length, a JSON header
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then
 * the data buffer, which the tensors tile exactly. Reading parses and checks the header, then
 * reads one tensor at a time, from a file or from bytes in memory (`SafetensorsFile.from(new
 * MemorySource(name, bytes))`, which is all a browser can do). Files written here carry a CRC-32
 * per tensor in `__metadata__` (key `wasmformers.crc32`, a JSON object name → 8 hex digits),
 * checked on every read; files from elsewhere load without one.
 */
import { decodeF32, DTYPE_BYTES, isDType, numel } from './dtypes.ts';
import { FileSource, readChecked, readCheckedSync, type ByteSource } from './source.ts';
import { infoOf, type TensorInfo, type TensorStore } from './store.ts';
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
function parseHeader(src: ByteSource): {
  tensors: Map<string, Located>;
  metadata: Record<string, string>;
  crcs: Map<string, number>;
} {
  const { where, size } = src;
  if (size < 8) throw new Error(`${where}: not a safetensors file (${size} bytes)`);
  const lenBuf = new Uint8Array(8);
  src.readSync(lenBuf, 0);
  const big = new DataView(lenBuf.buffer).getBigUint64(0, true);
  if (big < 2n || big > BigInt(size - 8))
    throw new Error(`${where}: not a safetensors file (header length ${big} in a ${size}-byte file)`);
  const headerLen = Number(big);
  if (headerLen > MAX_HEADER)
    throw new Error(`${where}: the safetensors header is ${headerLen} bytes, more than the ${MAX_HEADER} allowed`);
  const headerBuf = new Uint8Array(headerLen);
  src.readSync(headerBuf, 8);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBuf));
  } catch {
    throw new Error(`${where}: not a safetensors file (the header is not JSON)`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header))
    throw new Error(`${where}: not a safetensors file (the header is not a JSON object)`);
  const dataStart = 8 + headerLen,
    dataSize = size - dataStart;
  const tensors = new Map<string, Located>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (
        raw === null ||
        typeof raw !== 'object' ||
        Array.isArray(raw) ||
        !Object.values(raw).every((v) => typeof v === 'string')
      ) {
        throw new Error(`${where}: __metadata__ must map names to strings`);
      }
      metadata = raw as Record<string, string>;
      continue;
    }
    const t = (raw ?? {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (!isDType(t.dtype)) throw new Error(`${where}: tensor ${name} has unsupported dtype ${JSON.stringify(t.dtype)}`);
    const shape = t.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new Error(`${where}: tensor ${name} has a bad shape ${JSON.stringify(shape)}`);
    const offsets = t.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      throw new Error(`${where}: tensor ${name} has bad data_offsets ${JSON.stringify(offsets)}`);
    }
    const [b, e] = offsets as number[];
    const want = numel(shape) * DTYPE_BYTES[t.dtype];
    if (!(e >= b) || e - b !== want)
      throw new Error(`${where}: tensor ${name} spans bytes ${b}..${e} but ${t.dtype}[${shape}] needs ${want}`);
    if (e > dataSize)
      throw new Error(
        `${where}: tensor ${name} ends at byte ${dataStart + e}, past the end of the file (${size} bytes): truncated?`,
      );
    tensors.set(name, { dtype: t.dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  // The tensors must tile the data buffer: no overlap, no hole, nothing after the last one.
  let expected = dataStart;
  for (const [name, t] of [...tensors].filter(([, t]) => t.end > t.begin).sort((x, y) => x[1].begin - y[1].begin)) {
    if (t.begin !== expected)
      throw new Error(
        `${where}: tensor ${name} starts at byte ${t.begin}, expected ${expected} (tensors overlap or leave a hole)`,
      );
    expected = t.end;
  }
  if (expected !== size) throw new Error(`${where}: ${size - expected} bytes after the last tensor`);
  return { tensors, metadata, crcs: parseCrcs(metadata, tensors, where) };
}

/** The per-tensor checksums of `__metadata__`, if the file has them. */
function parseCrcs(
  metadata: Record<string, string>,
  tensors: Map<string, Located>,
  where: string,
): Map<string, number> {
  const crcs = new Map<string, number>();
  if (!Object.hasOwn(metadata, CRC_KEY)) return crcs;
  let raw: unknown;
  try {
    raw = JSON.parse(metadata[CRC_KEY]);
  } catch {
    raw = undefined;
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw))
    throw new Error(`${where}: __metadata__.${CRC_KEY} is not a JSON object`);
  for (const [name, hex] of Object.entries(raw as Record<string, unknown>)) {
    if (typeof hex !== 'string' || !/^[0-9a-f]{8}$/.test(hex))
      throw new Error(`${where}: __metadata__.${CRC_KEY} has a bad checksum for ${name}`);
    if (!tensors.has(name))
      throw new Error(`${where}: __metadata__.${CRC_KEY} names ${name}, which is not in the file`);
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
