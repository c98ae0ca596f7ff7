/**
 * Safetensors bytes without a file system: the header that every file written here starts with
 * (safetensors.ts writes files a tensor at a time through it), and a whole file made in memory
 * (`safetensorsBytes`, what a browser can hand over or store). Both give the same bytes for the
 * same tensors and metadata.
 */
import { crc32, crcHex } from './crc32.ts';
import { tensorBytes } from './dtypes.ts';
import { CRC_KEY } from './safetensors_file.ts';
import type { TensorInfo } from './store.ts';

/** Throws, naming `where`, when a tensor name is `__metadata__` or given twice. */
export function checkTensorNames(where: string, entries: readonly [string, TensorInfo][]): void {
  const names = new Set<string>();
  for (const [name] of entries) {
    if (name === '__metadata__' || names.has(name))
      throw new Error(`${where}: tensor name ${name} is reserved or repeated`);
    names.add(name);
  }
}

/**
 * The header of a file of `entries` in that order: the length prefix, then the JSON (format
 * "pt", `metadata`, and each tensor's CRC-32 from `crcs`, in hex, under CRC_KEY) padded with
 * spaces so that the data starts 8-byte aligned. Checksums of equal length give headers of equal
 * length, so a writer can fill them in at the end.
 */
export function safetensorsHeader(
  entries: readonly [string, TensorInfo][],
  metadata: Record<string, string>,
  crcs: ReadonlyMap<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {
    __metadata__: { format: 'pt', ...metadata, [CRC_KEY]: JSON.stringify(Object.fromEntries(crcs)) },
  };
  let offset = 0;
  for (const [name, t] of entries) {
    const n = tensorBytes(t.dtype, t.shape);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + n] };
    offset += n;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded).fill(0x20, 8 + json.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  return out;
}

/** One tensor held in memory: its name, type, shape and bytes in the dtype's little-endian layout. */
export interface TensorBytes {
  name: string;
  info: TensorInfo;
  bytes: Uint8Array;
}

/** A whole safetensors file of `tensors` (in that order); `where` names it in errors (a tensor of the wrong size). */
export function safetensorsBytes(
  tensors: readonly TensorBytes[],
  metadata: Record<string, string> = {},
  where = 'safetensors',
): Uint8Array {
  const entries = tensors.map((t): [string, TensorInfo] => [t.name, t.info]);
  checkTensorNames(where, entries);
  const crcs = new Map<string, string>();
  let size = 0;
  for (const t of tensors) {
    const want = tensorBytes(t.info.dtype, t.info.shape);
    if (t.bytes.length !== want)
      throw new Error(
        `${where}: tensor ${t.name} has ${t.bytes.length} bytes, ${t.info.dtype}[${t.info.shape}] needs ${want}`,
      );
    crcs.set(t.name, crcHex(crc32(t.bytes)));
    size += want;
  }
  const head = safetensorsHeader(entries, metadata, crcs);
  const out = new Uint8Array(head.length + size);
  out.set(head);
  let at = head.length;
  for (const t of tensors) {
    out.set(t.bytes, at);
    at += t.bytes.length;
  }
  return out;
}
