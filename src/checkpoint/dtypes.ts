/**
 * Element types of checkpoint tensors: their sizes, their names in safetensors and in MindSpore
 * `.ckpt` files, and conversions between the floating-point ones (round to nearest even).
 * Every tensor's bytes are little-endian, row-major.
 */

/** Element types (safetensors names) and their sizes in bytes. */
export const DTYPE_BYTES = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  F8_E4M3: 1,
  F8_E5M2: 1,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
} as const;
/** A tensor element type, named as safetensors names it. */
export type DType = keyof typeof DTYPE_BYTES;

/** The floating-point types that convert to and from f32. */
export const FLOAT_DTYPES: readonly DType[] = ['F64', 'F32', 'F16', 'BF16'];

/** MindSpore's `tensor_type` strings and the same types' safetensors names. */
const MINDSPORE: Record<string, DType> = {
  Float64: 'F64',
  Float32: 'F32',
  Float16: 'F16',
  BFloat16: 'BF16',
  Int64: 'I64',
  Int32: 'I32',
  Int16: 'I16',
  Int8: 'I8',
  UInt64: 'U64',
  UInt32: 'U32',
  UInt16: 'U16',
  UInt8: 'U8',
  Bool: 'BOOL',
};

/** True when `s` names a dtype. */
export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.hasOwn(DTYPE_BYTES, s);
}

/** The dtype of a MindSpore `tensor_type`, or undefined for types we do not read (str, ...). */
export function dtypeFromMindSpore(type: string): DType | undefined {
  return Object.hasOwn(MINDSPORE, type) ? MINDSPORE[type] : undefined;
}

/** MindSpore's `tensor_type` for a dtype; `what` names the tensor when it has none. */
export function dtypeToMindSpore(dtype: DType, what: string): string {
  for (const [ms, d] of Object.entries(MINDSPORE)) if (d === dtype) return ms;
  throw new Error(`${what}: dtype ${dtype} has no MindSpore tensor_type`);
}

/** Element count of a shape (1 for a scalar). */
export function numel(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Bytes of a tensor of `dtype` and `shape`. */
export function tensorBytes(dtype: DType, shape: readonly number[]): number {
  return numel(shape) * DTYPE_BYTES[dtype];
}

/** A typed view of bytes (copied first when they are not aligned for the element size). */
function view<T>(bytes: Uint8Array, size: number, make: (buf: ArrayBufferLike, offset: number, n: number) => T): T {
  const b = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  return make(b.buffer, b.byteOffset, b.byteLength / size);
}

/** Any numeric tensor's bytes as f32 values; `what` names the tensor in errors (F8 types are not read). */
export function decodeF32(bytes: Uint8Array, dtype: DType, what: string): Float32Array {
  switch (dtype) {
    case 'F32':
      return view(bytes, 4, (b, o, n) => new Float32Array(b, o, n)).slice();
    case 'F64':
      return Float32Array.from(view(bytes, 8, (b, o, n) => new Float64Array(b, o, n)));
    case 'BF16': {
      const u = view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
      const out = new Uint32Array(u.length);
      for (let i = 0; i < u.length; i++) out[i] = u[i] << 16;
      return new Float32Array(out.buffer);
    }
    case 'F16': {
      const u = view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n));
      const out = new Float32Array(u.length);
      for (let i = 0; i < u.length; i++) out[i] = halfToFloat(u[i]);
      return out;
    }
    case 'I64':
      return Float32Array.from(
        view(bytes, 8, (b, o, n) => new BigInt64Array(b, o, n)),
        Number,
      );
    case 'U64':
      return Float32Array.from(
        view(bytes, 8, (b, o, n) => new BigUint64Array(b, o, n)),
        Number,
      );
    case 'I32':
      return Float32Array.from(view(bytes, 4, (b, o, n) => new Int32Array(b, o, n)));
    case 'U32':
      return Float32Array.from(view(bytes, 4, (b, o, n) => new Uint32Array(b, o, n)));
    case 'I16':
      return Float32Array.from(view(bytes, 2, (b, o, n) => new Int16Array(b, o, n)));
    case 'U16':
      return Float32Array.from(view(bytes, 2, (b, o, n) => new Uint16Array(b, o, n)));
    case 'I8':
      return Float32Array.from(new Int8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    case 'U8':
    case 'BOOL':
      return Float32Array.from(bytes);
    default:
      throw new Error(`${what}: dtype ${dtype} cannot be read as numbers`);
  }
}

/** f32 values as bytes of a floating-point dtype (rounded to nearest even); `what` names the tensor. */
export function encodeFloat(values: Float32Array, dtype: DType, what: string): Uint8Array {
  const n = values.length;
  switch (dtype) {
    case 'F32':
      return new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + 4 * n));
    case 'F64':
      return new Uint8Array(Float64Array.from(values).buffer);
    case 'BF16': {
      const bits = new Uint32Array(values.buffer, values.byteOffset, n),
        out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = floatToBf16(bits[i]);
      return new Uint8Array(out.buffer);
    }
    case 'F16': {
      const bits = new Uint32Array(values.buffer, values.byteOffset, n),
        out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = floatToHalf(bits[i]);
      return new Uint8Array(out.buffer);
    }
    default:
      throw new Error(`${what}: cannot store values as ${dtype} (a floating-point type is needed)`);
  }
}

/** Converts a floating-point tensor's bytes to another floating-point dtype (the same bytes when equal). */
export function castFloat(bytes: Uint8Array, from: DType, to: DType, what: string): Uint8Array {
  if (from === to) return bytes;
  if (!FLOAT_DTYPES.includes(from))
    throw new Error(`${what}: dtype ${from} is not a floating-point type and cannot become ${to}`);
  return encodeFloat(decodeF32(bytes, from, what), to, what);
}

/** IEEE half-precision bits to a number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1,
    exp = (h >> 10) & 0x1f,
    frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** f32 bits to bfloat16 bits, rounded to nearest even (NaN stays a quiet NaN). */
export function floatToBf16(u: number): number {
  if ((u & 0x7fffffff) > 0x7f800000) return ((u >>> 16) | 0x40) & 0xffff;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

/** f32 bits to IEEE half-precision bits, rounded to nearest even (overflow gives infinity). */
export function floatToHalf(u: number): number {
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff,
    mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    const m = mant | 0x800000,
      shift = 14 - e;
    const half = 1 << (shift - 1),
      rest = m & ((1 << shift) - 1);
    let r = m >>> shift;
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r;
  }
  let r = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r++; // may carry into the exponent, up to infinity: still correct
  return sign | r;
}
