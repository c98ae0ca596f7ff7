/**
 * CRC-32 (the zlib/PNG polynomial), the checksum every checkpoint written here carries per
 * tensor. Node's native `zlib.crc32` (Node 20.15+, Deno, Bun) when present, a table-driven loop
 * elsewhere (browsers); both give the same values.
 */
import { nodeBuiltins } from '../runtime/host.ts';

type Crc32 = (data: Uint8Array, value?: number) => number;

let table: Uint32Array | undefined;

/** The portable CRC-32: `value` continues an earlier checksum. */
export function crc32Portable(data: Uint8Array, value = 0): number {
  if (!table) {
    table = new Uint32Array(256);
    for (let i = 0; i < 256; i++) {
      let c = i;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[i] = c >>> 0;
    }
  }
  let c = ~value;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

const native = nodeBuiltins ? ((await import('node:zlib')) as unknown as { crc32?: Crc32 }).crc32 : undefined;

/** CRC-32 of `data`, continuing `value` (0 to start). */
export const crc32: Crc32 = native ? (data, value = 0) => native(data, value) >>> 0 : crc32Portable;

/** A checksum as the 8 lowercase hex digits stored in files. */
export function crcHex(value: number): string {
  return value.toString(16).padStart(8, '0');
}
