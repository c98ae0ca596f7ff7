/**
 * The GGUF v3 file layout (llama.cpp's model file): a header `GGUF`, version, tensor count and
 * key count; the metadata (typed key/value pairs); one record per tensor (name, dimensions
 * innermost first, ggml type, offset into the data); then the tensor data, aligned to
 * `general.alignment` (32 by default). All numbers are little-endian.
 */

/** `GGUF` read as a little-endian u32. */
export const GGUF_MAGIC = 0x46554747;
/** The version written here and the ones read. */
export const GGUF_VERSION = 3;
/** Data alignment when the file does not set general.alignment. */
export const DEFAULT_ALIGNMENT = 32;

/** The metadata value types. */
export const enum ValueType {
  U8 = 0,
  I8 = 1,
  U16 = 2,
  I16 = 3,
  U32 = 4,
  I32 = 5,
  F32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  U64 = 10,
  I64 = 11,
  F64 = 12,
}

/** A metadata value as read: numbers (u64/i64 as number when safe), booleans, strings and arrays of them. */
export type MetaValue = number | bigint | boolean | string | MetaValue[] | Float32Array | Int32Array;

/** A metadata value to write, with its GGUF type. */
export type TypedValue =
  | { type: 'u32' | 'i32' | 'f32' | 'u64'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'strings'; value: readonly string[] }
  | { type: 'f32s'; value: Float32Array }
  | { type: 'i32s'; value: Int32Array };

/** The ggml tensor types this project reads or writes, with their block size and bytes per block. */
export const GGML_TYPES = {
  F32: { id: 0, block: 1, bytes: 4 },
  F16: { id: 1, block: 1, bytes: 2 },
  Q4_0: { id: 2, block: 32, bytes: 18 },
  Q4_1: { id: 3, block: 32, bytes: 20 },
  Q5_0: { id: 6, block: 32, bytes: 22 },
  Q5_1: { id: 7, block: 32, bytes: 24 },
  Q8_0: { id: 8, block: 32, bytes: 34 },
  Q4_K: { id: 12, block: 256, bytes: 144 },
  Q5_K: { id: 13, block: 256, bytes: 176 },
  Q6_K: { id: 14, block: 256, bytes: 210 },
  Q3_K: { id: 11, block: 256, bytes: 110 },
  BF16: { id: 30, block: 1, bytes: 2 },
} as const;
/** A ggml tensor type this project handles. */
export type GgmlType = keyof typeof GGML_TYPES;
/** A ggml block-quantized type this project handles. */
export type BlockType = Exclude<GgmlType, 'F32' | 'F16' | 'BF16'>;

/** Byte offsets of the f16 scales within one block of each type: d, then the types with mins their dmin (Q6_K's and Q3_K's d is last). */
export const BLOCK_SCALES_AT: Record<BlockType, readonly number[]> = {
  Q4_0: [0],
  Q4_1: [0, 2],
  Q5_0: [0],
  Q5_1: [0, 2],
  Q8_0: [0],
  Q4_K: [0, 2],
  Q5_K: [0, 2],
  Q6_K: [208],
  Q3_K: [108],
};

/** The name of a ggml type id, or undefined for one not handled here. */
export function ggmlTypeOf(id: number): GgmlType | undefined {
  return (Object.keys(GGML_TYPES) as GgmlType[]).find((t) => GGML_TYPES[t].id === id);
}

/** Bytes of a row-major tensor of `type` with `n` elements (a whole number of blocks). */
export function ggmlBytes(type: GgmlType, n: number): number {
  const t = GGML_TYPES[type];
  return (n / t.block) * t.bytes;
}

/** `n` rounded up to a multiple of `align`. */
export function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}
