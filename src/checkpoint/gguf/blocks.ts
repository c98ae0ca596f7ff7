/**
 * llama.cpp's block-quantized layouts, to f32 and (Q8_0, Q4_0) from f32, as its reference
 * quantizers compute them (f32 arithmetic, scales stored as f16):
 * - Q8_0, 32 values in 34 bytes: f16 d, then 32 int8 q; x = d·q, d = max|x|/127, q = round(x/d).
 * - Q4_0, 32 values in 18 bytes: f16 d, then 16 bytes whose low nibbles hold values 0..15 and
 *   high nibbles values 16..31; x = d·(q − 8), d = (the value of largest magnitude)/−8.
 * - Q4_K, 256 values in 144 bytes: f16 d, f16 dmin, 12 bytes of eight 6-bit (scale, min) pairs,
 *   128 bytes of nibbles; each 64 values use two pairs: x = d·scale·q − dmin·min.
 * - Q6_K, 256 values in 210 bytes: 128 bytes of low nibbles, 64 bytes of high 2-bit pairs,
 *   16 int8 scales, f16 d; x = d·scale·(q − 32), one scale per 16 values.
 */
import { decodeF32, floatToHalf, halfToFloat } from '../dtypes.ts';
import { GGML_TYPES, type GgmlType } from './format.ts';

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
    case 'Q4_K':
      for (let b = 0; b < n / 256; b++) {
        const at = 144 * b,
          d = half(at),
          dmin = half(at + 2),
          sc = bytes.subarray(at + 4, at + 16);
        for (let c = 0; c < 4; c++) {
          const [s1, m1] = scaleMin(2 * c, sc),
            [s2, m2] = scaleMin(2 * c + 1, sc);
          const d1 = f32(d * s1),
            dm1 = f32(dmin * m1),
            d2 = f32(d * s2),
            dm2 = f32(dmin * m2);
          const q = at + 16 + 32 * c,
            y = 256 * b + 64 * c;
          for (let l = 0; l < 32; l++) {
            out[y + l] = f32(f32(d1 * (bytes[q + l] & 15)) - dm1);
            out[y + 32 + l] = f32(f32(d2 * (bytes[q + l] >> 4)) - dm2);
          }
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
    dv.setUint16(34 * b, floatToHalf(new Uint32Array(new Float32Array([d]).buffer)[0]), true);
    for (let j = 0; j < 32; j++) dv.setInt8(34 * b + 2 + j, roundAway(f32(x[32 * b + j] * id)));
  }
  return out;
}

/** f32 values (a multiple of 32) as Q4_0 blocks. */
export function quantizeQ4_0(x: Float32Array): Uint8Array {
  const out = new Uint8Array((x.length / 32) * 18),
    dv = new DataView(out.buffer);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0,
      max = 0;
    for (let j = 0; j < 32; j++) {
      const v = x[32 * b + j];
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f32(max / -8),
      id = d ? f32(1 / d) : 0;
    dv.setUint16(18 * b, floatToHalf(new Uint32Array(new Float32Array([d]).buffer)[0]), true);
    const nibble = (v: number) => Math.min(15, Math.trunc(f32(f32(v * id) + 8.5)));
    for (let j = 0; j < 16; j++) out[18 * b + 2 + j] = nibble(x[32 * b + j]) | (nibble(x[32 * b + j + 16]) << 4);
  }
  return out;
}
