/**
 * llama.cpp's block-quantized layouts, to f32, and from f32: Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1 as its
 * reference quantizers compute them (f32 arithmetic, scales stored as f16), Q4_K, Q5_K and Q6_K by the
 * least-squares fits described at quantizeAffineK and quantizeQ6_K:
 * - Q8_0, 32 values in 34 bytes: f16 d, then 32 int8 q; x = d·q, d = max|x|/127, q = round(x/d).
 * - Q4_0, 32 values in 18 bytes: f16 d, then 16 bytes whose low nibbles hold values 0..15 and
 *   high nibbles values 16..31; x = d·(q − 8), d = (the value of largest magnitude)/−8.
 * - Q4_K, 256 values in 144 bytes: f16 d, f16 dmin, 12 bytes of eight 6-bit (scale, min) pairs,
 *   128 bytes of nibbles; each 64 values use two pairs: x = d·scale·q − dmin·min.
 * - Q6_K, 256 values in 210 bytes: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs,
 *   16 int8 scales, f16 d; x = d·scale·(q − 32), one scale per 16 values.
 * - Q5_0, 32 values in 22 bytes: f16 d, a u32 of fifth bits (bit j for value j), nibbles as
 *   Q4_0's; x = d·(q − 16), d = (the value of largest magnitude)/−16.
 * - Q5_K, 256 values in 176 bytes: f16 d, f16 dmin, Q4_K's 12 bytes of (scale, min) pairs, 32
 *   bytes of fifth bits (bit i of byte l for value l of the i-th 32), 128 bytes of nibbles as
 *   Q4_K's; x = d·scale·q − dmin·min.
 * - Q4_1, 32 values in 20 bytes: f16 d, f16 m, 16 bytes of nibbles as Q4_0's; x = d·q + m,
 *   m = min x, d = (max x − m)/15.
 * - Q5_1, 32 values in 24 bytes: f16 d, f16 m, the fifth bits, the nibbles; x = d·q + m,
 *   d = (max x − m)/31.
 * Read only (dequantized here; the kernels multiply it in its blocks), as llama.cpp lays it out:
 * - Q3_K, 256 values in 110 bytes: 32 bytes of third bits (bit 4h + g of byte l for value
 *   128h + 32g + l), 64 bytes of 2-bit parts (bits 2g..2g+1 of byte 32h + l), 12 bytes of sixteen
 *   6-bit scales (low four bits in the nibbles of bytes 0..7, top two in bytes 8..11), f16 d;
 *   x = d·(scale − 32)·(q − 4), one scale per 16 values.
 */
import { decodeF32, floatToHalf, halfToFloat } from '../dtypes.ts';
import { GGML_TYPES, type BlockType, type GgmlType } from './format.ts';

const f32 = Math.fround;

/** The values of `n` elements stored as `type`; `what` names the tensor when the byte count is wrong. */
export function dequantize(type: GgmlType, bytes: Uint8Array, n: number, what: string): Float32Array {
  const t = GGML_TYPES[type];
  if (n % t.block !== 0 || bytes.length !== (n / t.block) * t.bytes)
    throw new Error(`${what}: ${bytes.length} bytes do not hold ${n} values of ${type}`);
  if (type === 'F32' || type === 'F16' || type === 'BF16') return decodeF32(bytes, type, what);
  const out = new Float32Array(n),
    dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const half = (at: number) => halfToFloat(dv.getUint16(at, true));
  switch (type) {
    case 'Q8_0':
      for (let b = 0; b < n / 32; b++) {
        const at = 34 * b,
          d = half(at);
        for (let j = 0; j < 32; j++) out[32 * b + j] = f32(d * dv.getInt8(at + 2 + j));
      }
      break;
    case 'Q4_0':
      for (let b = 0; b < n / 32; b++) {
        const at = 18 * b,
          d = half(at);
        for (let j = 0; j < 16; j++) {
          const q = bytes[at + 2 + j];
          out[32 * b + j] = f32(d * ((q & 15) - 8));
          out[32 * b + j + 16] = f32(d * ((q >> 4) - 8));
        }
      }
      break;
    case 'Q4_1':
    case 'Q5_0':
    case 'Q5_1': {
      const offset = type !== 'Q5_0',
        fifth = type !== 'Q4_1',
        bytesPerBlock = t.bytes;
      for (let b = 0; b < n / 32; b++) {
        const at = bytesPerBlock * b,
          d = half(at),
          m = offset ? half(at + 2) : 0,
          qh = fifth ? dv.getUint32(at + (offset ? 4 : 2), true) : 0,
          qs = at + bytesPerBlock - 16;
        for (let j = 0; j < 32; j++) {
          const q = ((bytes[qs + (j & 15)] >> (j & 16 ? 4 : 0)) & 15) | (((qh >>> j) & 1) << 4);
          out[32 * b + j] = offset ? f32(f32(d * q) + m) : f32(d * (q - 16));
        }
      }
      break;
    }
    case 'Q4_K':
    case 'Q5_K': {
      // run i of 32 values: pair i of the scales, the low (even i) or high nibbles of 32 bytes, and Q5_K's bit i of its 32 bytes of fifth bits
      const q5 = type === 'Q5_K';
      for (let b = 0; b < n / 256; b++) {
        const at = t.bytes * b,
          d = half(at),
          dmin = half(at + 2),
          sc = bytes.subarray(at + 4, at + 16);
        for (let i = 0; i < 8; i++) {
          const [s, m] = scaleMin(i, sc),
            di = f32(d * s),
            dm = f32(dmin * m),
            qs = at + (q5 ? 48 : 16) + 32 * (i >> 1);
          for (let l = 0; l < 32; l++) {
            const fifth = q5 ? ((bytes[at + 16 + l] >> i) & 1) << 4 : 0;
            out[256 * b + 32 * i + l] = f32(f32(di * (((bytes[qs + l] >> (4 * (i & 1))) & 15) | fifth)) - dm);
          }
        }
      }
      break;
    }
    case 'Q3_K':
      // value 128h + 32g + l: bits 2g..2g+1 of qs byte 32h + l, bit 4h + g of hmask byte l
      for (let b = 0; b < n / 256; b++) {
        const at = 110 * b,
          d = half(at + 108),
          sc = (j: number) =>
            (((bytes[at + 96 + (j & 7)] >> (j < 8 ? 0 : 4)) & 15) |
              (((bytes[at + 104 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4)) -
            32;
        for (let i = 0; i < 256; i++) {
          const h = i >> 7,
            g = (i >> 5) & 3,
            l = i & 31,
            q = ((bytes[at + 32 + 32 * h + l] >> (2 * g)) & 3) | (((bytes[at + l] >> (4 * h + g)) & 1) << 2);
          out[256 * b + i] = f32(f32(d * sc(i >> 4)) * (q - 4));
        }
      }
      break;
    case 'Q6_K':
      for (let b = 0; b < n / 256; b++) {
        const at = 210 * b,
          d = half(at + 208);
        for (let h = 0; h < 2; h++) {
          const ql = at + 64 * h,
            qh = at + 128 + 32 * h,
            sc = at + 192 + 8 * h,
            y = 256 * b + 128 * h;
          for (let l = 0; l < 32; l++) {
            const is = l >> 4,
              hi = bytes[qh + l];
            const q1 = ((bytes[ql + l] & 15) | ((hi & 3) << 4)) - 32;
            const q2 = ((bytes[ql + l + 32] & 15) | (((hi >> 2) & 3) << 4)) - 32;
            const q3 = ((bytes[ql + l] >> 4) | (((hi >> 4) & 3) << 4)) - 32;
            const q4 = ((bytes[ql + l + 32] >> 4) | (((hi >> 6) & 3) << 4)) - 32;
            out[y + l] = f32(f32(d * dv.getInt8(sc + is)) * q1);
            out[y + l + 32] = f32(f32(d * dv.getInt8(sc + is + 2)) * q2);
            out[y + l + 64] = f32(f32(d * dv.getInt8(sc + is + 4)) * q3);
            out[y + l + 96] = f32(f32(d * dv.getInt8(sc + is + 6)) * q4);
          }
        }
      }
      break;
  }
  return out;
}

/** Q4_K's j-th 6-bit (scale, min) pair of the 12 packed bytes. */
function scaleMin(j: number, q: Uint8Array): [number, number] {
  if (j < 4) return [q[j] & 63, q[j + 4] & 63];
  return [(q[j + 4] & 15) | ((q[j - 4] >> 6) << 4), (q[j + 4] >> 4) | ((q[j] >> 6) << 4)];
}

/** f16 bits of a number (rounded through f32). */
function halfBits(v: number): number {
  return floatToHalf(new Uint32Array(new Float32Array([v]).buffer)[0]);
}

/** C's roundf: halves away from zero. */
function roundAway(x: number): number {
  return Math.sign(x) * Math.floor(Math.abs(x) + 0.5);
}

/** f32 values (a multiple of 32) as Q8_0 blocks. */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 34),
    dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[32 * b + j]));
    const d = f32(amax / 127),
      id = d ? f32(1 / d) : 0;
    dv.setUint16(34 * b, halfBits(d), true);
    for (let j = 0; j < 32; j++) dv.setInt8(34 * b + 2 + j, roundAway(f32(x[32 * b + j] * id)));
  }
  return out;
}

/** The value of largest magnitude of x[at, at + 32) (the first of them). */
function largestMagnitude(x: Float32Array, at: number): number {
  let amax = 0,
    max = 0;
  for (let j = 0; j < 32; j++) {
    const v = x[at + j];
    if (amax < Math.abs(v)) {
      amax = Math.abs(v);
      max = v;
    }
  }
  return max;
}

/** f32 values (a multiple of 32) as Q4_0 blocks. */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18),
    dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    const d = f32(largestMagnitude(x, 32 * b) / -8),
      id = d ? f32(1 / d) : 0;
    dv.setUint16(18 * b, halfBits(d), true);
    const nibble = (v: number) => Math.min(15, Math.trunc(f32(f32(v * id) + 8.5)));
    for (let j = 0; j < 16; j++) out[18 * b + 2 + j] = nibble(x[32 * b + j]) | (nibble(x[32 * b + j + 16]) << 4);
  }
  return out;
}

/** f32 values (a multiple of 32) as Q5_0 blocks: d = (the value of largest magnitude)/−16, q = min(31, trunc(x/d + 16.5)). */
export function quantizeQ5_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 22),
    dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    const d = f32(largestMagnitude(x, 32 * b) / -16),
      id = d ? f32(1 / d) : 0,
      q = (v: number) => Math.min(31, Math.trunc(f32(f32(v * id) + 16.5))) & 31;
    dv.setUint16(22 * b, halfBits(d), true);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const lo = q(x[32 * b + j]),
        hi = q(x[32 * b + j + 16]);
      out[22 * b + 6 + j] = (lo & 15) | ((hi & 15) << 4);
      qh |= ((lo >> 4) << j) | ((hi >> 4) << (j + 16));
    }
    dv.setUint32(22 * b + 2, qh >>> 0, true);
  }
  return out;
}

/**
 * f32 values (a multiple of 32) as blocks of 32 with a scale and a min (Q4_1: top 15, 20 bytes;
 * Q5_1: top 31, 24 bytes), as llama.cpp's reference quantizers make them, in f32: m = min x,
 * d = (max x − m)/top, q = min(top, trunc((x − m)·(1/d) + 0.5)) (0 where d is 0); d and m as f16,
 * then (Q5_1) the fifth bits as a u32, bit j for value j, then the low four bits as Q4_0's nibbles.
 */
function quantizeMinBlocks(x: Float32Array, top: 15 | 31): Uint8Array {
  const bytes = top === 15 ? 20 : 24,
    out = new Uint8Array((x.length / 32) * bytes),
    dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    const at = bytes * b,
      block = x.subarray(32 * b, 32 * b + 32);
    let lo = Infinity,
      hi = -Infinity;
    for (const v of block) {
      lo = Math.min(lo, v);
      hi = Math.max(hi, v);
    }
    const d = f32(f32(hi - lo) / top),
      id = d ? f32(1 / d) : 0,
      q = (v: number) => Math.min(top, Math.trunc(f32(f32(f32(v - lo) * id) + 0.5))) & top;
    dv.setUint16(at, halfBits(d), true);
    dv.setUint16(at + 2, halfBits(lo), true);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const a = q(block[j]),
        c = q(block[j + 16]);
      out[at + bytes - 16 + j] = (a & 15) | ((c & 15) << 4);
      qh |= ((a >> 4) << j) | ((c >> 4) << (j + 16));
    }
    if (top === 31) dv.setUint32(at + 4, qh >>> 0, true);
  }
  return out;
}

/** f32 values (a multiple of 32) as Q4_1 blocks (quantizeMinBlocks). */
export function quantizeQ4_1(x: Float32Array): Uint8Array {
  return quantizeMinBlocks(x, 15);
}

/** f32 values (a multiple of 32) as Q5_1 blocks (quantizeMinBlocks). */
export function quantizeQ5_1(x: Float32Array): Uint8Array {
  return quantizeMinBlocks(x, 31);
}

/**
 * The affine fit x ≈ a·q + b of the 32 values x[at..at+32) to codes q in 0..top (15 for Q4_K, 31
 * for Q5_K), written to fit[0] (a) and fit[1] (b): codes from the range [min(0, min x), max x],
 * then alternately the least-squares a and b for those codes (b kept ≤ 0, since the K-quants
 * store −b as a non-negative min) and the codes for that a and b, keeping the best of a few rounds.
 */
function fitAffine(x: Float32Array, at: number, top: number, fit: Float64Array): void {
  let lo = 0,
    hi = -Infinity;
  for (let i = at; i < at + 32; i++) {
    lo = Math.min(lo, x[i]);
    hi = Math.max(hi, x[i]);
  }
  fit[0] = 0;
  fit[1] = lo;
  if (hi <= lo) return;
  let a = (hi - lo) / top,
    b = lo,
    best = Infinity;
  for (let round = 0; round < 6; round++) {
    let err = 0,
      sq = 0,
      sqq = 0,
      sx = 0,
      sqx = 0;
    for (let i = 0; i < 32; i++) {
      const v = x[at + i],
        q = Math.min(top, Math.max(0, Math.round((v - b) / a)));
      err += (a * q + b - v) ** 2;
      sq += q;
      sqq += q * q;
      sx += v;
      sqx += q * v;
    }
    if (err >= best) break;
    best = err;
    fit[0] = a;
    fit[1] = b;
    const den = 32 * sqq - sq * sq;
    if (den <= 0) break;
    a = (32 * sqx - sq * sx) / den;
    b = (sx - a * sq) / 32;
    if (b > 0) [a, b] = [sqx / sqq, 0];
    if (!(a > 0)) break;
  }
}

/** Bytes 4..15 of a Q4_K or Q5_K super-block: eight 6-bit scales sc and mins m, the last four of each spread over the high bits. */
function packScalesK4(sc: number[], m: number[], out: Uint8Array): void {
  for (let j = 0; j < 4; j++) {
    out[j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    out[j + 4] = m[j] | ((m[j + 4] >> 4) << 6);
    out[j + 8] = (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4);
  }
}

/**
 * Quantizes each super-block of 256 values of x (a multiple of 256) to codes 0..top (15 for
 * Q4_K, 31 for Q5_K), as the super-blocks of `bytes` bytes a new array holds: each sub-block of
 * 32 gets its own affine fit (fitAffine); the super-block's f16 d and dmin (bytes 0..3) are the
 * largest scale and min over 63, the sub-blocks' 6-bit scales and mins (bytes 4..15) their own
 * rounded to those steps, and the codes, chosen again for the scales and mins as stored, are
 * handed to `put(out, at, i, q)` (value i of the super-block at byte `at` has code q) to place.
 */
function quantizeAffineK(
  x: Float32Array,
  top: number,
  bytes: number,
  put: (out: Uint8Array, at: number, i: number, q: number) => void,
): Uint8Array {
  const out = new Uint8Array((x.length / 256) * bytes),
    dv = new DataView(out.buffer);
  const fit = new Float64Array(2),
    scales = new Float64Array(8),
    mins = new Float64Array(8),
    sc = [0, 0, 0, 0, 0, 0, 0, 0],
    m = [0, 0, 0, 0, 0, 0, 0, 0];
  for (let b = 0; b < x.length / 256; b++) {
    const at = bytes * b;
    let maxA = 0,
      maxM = 0;
    for (let j = 0; j < 8; j++) {
      fitAffine(x, 256 * b + 32 * j, top, fit);
      scales[j] = fit[0];
      mins[j] = -fit[1];
      maxA = Math.max(maxA, scales[j]);
      maxM = Math.max(maxM, mins[j]);
    }
    dv.setUint16(at, halfBits(maxA / 63), true);
    dv.setUint16(at + 2, halfBits(maxM / 63), true);
    const d = halfToFloat(dv.getUint16(at, true)),
      dmin = halfToFloat(dv.getUint16(at + 2, true));
    for (let j = 0; j < 8; j++) {
      sc[j] = d > 0 ? Math.min(63, Math.round(scales[j] / d)) : 0;
      m[j] = dmin > 0 ? Math.min(63, Math.round(mins[j] / dmin)) : 0;
    }
    packScalesK4(sc, m, out.subarray(at + 4, at + 16));
    for (let j = 0; j < 8; j++) {
      const step = f32(d * sc[j]),
        offset = f32(dmin * m[j]);
      for (let l = 0; l < 32; l++) {
        const v = x[256 * b + 32 * j + l];
        put(out, at, 32 * j + l, step > 0 ? Math.min(top, Math.max(0, Math.round((v + offset) / step))) : 0);
      }
    }
  }
  return out;
}

/**
 * f32 values (a multiple of 256) as Q4_K super-blocks (quantizeAffineK, codes 0..15): value i's
 * code in the low (even sub-block i >> 5) or high nibble of byte 16 + 32·(i >> 6) + i % 32.
 */
export function quantizeQ4_K(x: Float32Array): Uint8Array {
  return quantizeAffineK(x, 15, 144, (out, at, i, q) => {
    out[at + 16 + 32 * (i >> 6) + (i & 31)] |= i & 32 ? q << 4 : q;
  });
}

/**
 * f32 values (a multiple of 256) as Q5_K super-blocks (quantizeAffineK, codes 0..31): value i's
 * low four bits placed as Q4_K's nibbles, from byte 48, and its fifth bit as bit i >> 5 of byte 16 + i % 32.
 */
export function quantizeQ5_K(x: Float32Array): Uint8Array {
  return quantizeAffineK(x, 31, 176, (out, at, i, q) => {
    out[at + 48 + 32 * (i >> 6) + (i & 31)] |= i & 32 ? (q & 15) << 4 : q & 15;
    out[at + 16 + (i & 31)] |= (q >> 4) << (i >> 5);
  });
}

/**
 * The scale s of one Q6_K run of 16 values x[at..at+16), codes q in −32..31 with x ≈ s·q: first the value of
 * largest magnitude at code −32 (as Q4_0 does with −8), then a few rounds of the least-squares s
 * for the codes and the codes for that s.
 */
function fitScale6(x: Float32Array, at: number): number {
  let s = 0;
  for (let i = at; i < at + 16; i++) if (Math.abs(x[i]) > Math.abs(s)) s = x[i];
  s /= -32;
  if (s === 0) return 0;
  let best = Infinity,
    bestS = s;
  for (let round = 0; round < 4; round++) {
    let err = 0,
      sqx = 0,
      sqq = 0;
    for (let i = at; i < at + 16; i++) {
      const v = x[i],
        q = Math.min(31, Math.max(-32, Math.round(v / s)));
      err += (s * q - v) ** 2;
      sqx += q * v;
      sqq += q * q;
    }
    if (err >= best) break;
    best = err;
    bestS = s;
    s = sqx / sqq;
  }
  return bestS;
}

/**
 * f32 values (a multiple of 256) as Q6_K super-blocks: each run of 16 values gets its own scale
 * (fitScale6), the super-block's f16 d is the scale of largest magnitude over 127, each run's
 * int8 scale its own rounded to that step, and the 6-bit codes are chosen for the scales as stored.
 */
export function quantizeQ6_K(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 256) * 210),
    dv = new DataView(out.buffer);
  const s = new Float64Array(16);
  for (let b = 0; b < x.length / 256; b++) {
    const at = 210 * b;
    let most = 0;
    for (let j = 0; j < 16; j++) {
      s[j] = fitScale6(x, 256 * b + 16 * j);
      most = Math.max(most, Math.abs(s[j]));
    }
    dv.setUint16(at + 208, halfBits(most / 127), true);
    const d = halfToFloat(dv.getUint16(at + 208, true));
    for (let j = 0; j < 16; j++)
      dv.setInt8(at + 192 + j, d > 0 ? Math.max(-128, Math.min(127, Math.round(s[j] / d))) : 0);
    for (let i = 0; i < 256; i++) {
      const step = f32(d * dv.getInt8(at + 192 + (i >> 4))),
        q = step !== 0 ? Math.min(31, Math.max(-32, Math.round(x[256 * b + i] / step))) + 32 : 32;
      const h = i >> 7,
        g = (i >> 5) & 3,
        l = i & 31;
      out[at + 64 * h + l + 32 * (g % 2)] |= g < 2 ? q & 15 : (q & 15) << 4;
      out[at + 128 + 32 * h + l] |= (q >> 4) << (2 * g);
    }
  }
  return out;
}

/** The quantizer of each block type that is written here (Q3_K is read only). */
export const QUANTIZERS: Readonly<Partial<Record<BlockType, (x: Float32Array) => Uint8Array>>> = {
  Q8_0: quantizeQ8_0,
  Q4_0: quantizeQ4_0,
  Q5_0: quantizeQ5_0,
  Q4_1: quantizeQ4_1,
  Q5_1: quantizeQ5_1,
  Q4_K: quantizeQ4_K,
  Q5_K: quantizeQ5_K,
  Q6_K: quantizeQ6_K,
};
