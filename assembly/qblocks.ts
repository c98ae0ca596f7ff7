// Linear-layer products over llama.cpp's block-quantized weights: rows of K values stored as
// blocks of 32, Q8_0 (f16 scale d, 32 int8 q: w = d·q), Q4_0 (f16 d, 16 bytes of nibbles, low
// nibbles values 0..15 and high nibbles 16..31: w = d·(q − 8)), Q5_0 (f16 d, a u32 of fifth
// bits, bit j for value j, then Q4_0's nibbles: w = d·(q − 16)), Q4_1 and Q5_1 (Q4_0's and
// Q5_0's quants after an f16 d and an f16 min m: w = d·q + m), or as super-blocks of 256, Q4_K,
// Q5_K, Q6_K and Q3_K (kquants.ts).
//
// Decoding (fewer than 4 rows of X) dots each weight row with x block by block: x is split into
// two int16 parts (gemm.ts splitX16, about 30 bits), the quants widened to int16 in registers
// meet them in exact integer multiply-adds (i32x4.dot_i16x8_s), and each block's sums are scaled
// by its d and x's scale (rows longer than XQ_MAX widen Q8_0/Q4_0 quants to f32 instead, and take
// the dequantizing path below for the other super-blocks, Q4_1 and Q5_1). Longer inputs dequantize as many weight rows
// as the workspace's qRows region holds (1 MiB) and run the f32 GEMM on them.
// quantize_blocks makes Q8_0 and Q4_0 blocks from f32 values as weights load.

import { fma, hsum, shrBytes } from './simd';
import { gemm, LO, splitX16, WT_F32, XB, XQ_MAX } from './gemm';
import { dequantizeQ3K, dequantizeQ4K, dequantizeQ5K, dequantizeQ6K, dotRowQ4K, dotRowQ6K, Q3K_BYTES, Q4K_BYTES, Q5K_BYTES, Q6K_BYTES, sumBlocks32 } from './kquants';
import { half, halfBits } from './quant';
import { QROWS_BYTES, packA, qRows } from './workspace';

export const QT_Q8_0: i32 = 3;
export const QT_Q4_0: i32 = 4;
export const QT_Q4_K: i32 = 5;
export const QT_Q6_K: i32 = 6;
export const QT_Q5_0: i32 = 7;
export const QT_Q5_K: i32 = 8;
export const QT_Q4_1: i32 = 9;
export const QT_Q5_1: i32 = 10;
export const QT_Q3_K: i32 = 11;

/** Whether `qt` is a super-block type (256 values a block). */
// @ts-ignore: decorator
@inline export function superBlocks(qt: i32): bool {
  return qt == QT_Q4_K || qt == QT_Q5_K || qt == QT_Q6_K || qt == QT_Q3_K;
}

/** Whether `qt` is a block of 32 with a min (Q4_1, Q5_1: w = d·q + m). */
// @ts-ignore: decorator
@inline export function hasMin(qt: i32): bool {
  return qt == QT_Q4_1 || qt == QT_Q5_1;
}

/** Whether `qt`'s quants have a fifth bit (Q5_0, Q5_1). */
// @ts-ignore: decorator
@inline function hasFifth(qt: i32): bool {
  return qt == QT_Q5_0 || qt == QT_Q5_1;
}

/** Weight rows of K values dequantized per GEMM call. */
// @ts-ignore: decorator
@inline function chunkRows(K: i32): i32 {
  return max(1, <i32>(QROWS_BYTES / (<usize>K * 4)));
}

/** Bytes of one row of K values. */
// @ts-ignore: decorator
@inline export function rowBytes(K: i32, qt: i32): usize {
  if (superBlocks(qt)) return <usize>(K >> 8) * (qt == QT_Q4_K ? Q4K_BYTES : qt == QT_Q5_K ? Q5K_BYTES : qt == QT_Q3_K ? Q3K_BYTES : Q6K_BYTES);
  return <usize>(K >> 5) * (qt == QT_Q8_0 ? 34 : qt == QT_Q5_0 ? 22 : qt == QT_Q4_1 ? 20 : qt == QT_Q5_1 ? 24 : 18);
}

/** Byte j of the 16 lanes: byte 0 or 2 of a u32 for lanes 0..7, byte 1 or 3 for lanes 8..15 (upper). */
// @ts-ignore: decorator
@inline function fifthBytes(qh: v128, upper: bool): v128 {
  return upper
    ? i8x16.swizzle(qh, i8x16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3))
    : i8x16.swizzle(qh, i8x16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1));
}

/** The fifth bits (a u32 at qh, bit j for value j) of values 0..15 (upper: 16..31), as 16 in the lanes where they are set. */
// @ts-ignore: decorator
@inline export function fifthBits(qh: usize, upper: bool): v128 {
  const bit = i8x16(1, 2, 4, 8, 16, 32, 64, -128, 1, 2, 4, 8, 16, 32, 64, -128);
  const set = i8x16.eq(v128.and(fifthBytes(v128.load32_splat(qh), upper), bit), bit);
  return v128.and(set, i8x16.splat(16));
}

/**
 * The block's quants as unsigned values: Q4_0's and Q4_1's nibbles (0..15), Q5_0's and Q5_1's
 * with their fifth bits (0..31); values 0..15, or (upper) 16..31.
 */
// @ts-ignore: decorator
@inline export function unsignedQuants(b: usize, qt: i32, upper: bool): v128 {
  // the scales take 2 bytes (4 with a min), the fifth bits 4 more
  const head: usize = (hasMin(qt) ? 4 : 2) + (hasFifth(qt) ? 4 : 0);
  const v = v128.load(b + head);
  const q = upper ? shrBytes(v, 4, 15) : v128.and(v, i8x16.splat(15));
  return hasFifth(qt) ? v128.or(q, fifthBits(b + head - 4, upper)) : q;
}

/** The 16 int8 lanes of v as four f32x4, in order. */
// @ts-ignore: decorator
@inline function lo8(v: v128): v128 { return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v))); }
// @ts-ignore: decorator
@inline function lo8b(v: v128): v128 { return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_low_i8x16_s(v))); }
// @ts-ignore: decorator
@inline function hi8(v: v128): v128 { return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_high_i8x16_s(v))); }
// @ts-ignore: decorator
@inline function hi8b(v: v128): v128 { return f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(i16x8.extend_high_i8x16_s(v))); }

/** The block's 32 quants less their offset (Q4_0's 8, Q5_0's 16; none with a min) as two vectors of 16 int8 (values 0..15 and 16..31). */
// @ts-ignore: decorator
@inline function quants0(b: usize, qt: i32): v128 {
  if (qt == QT_Q8_0) return v128.load(b + 2);
  if (hasMin(qt)) return unsignedQuants(b, qt, false);
  return i8x16.sub(unsignedQuants(b, qt, false), i8x16.splat(qt == QT_Q5_0 ? 16 : 8));
}
// @ts-ignore: decorator
@inline function quants1(b: usize, qt: i32): v128 {
  if (qt == QT_Q8_0) return v128.load(b + 18);
  if (hasMin(qt)) return unsignedQuants(b, qt, true);
  return i8x16.sub(unsignedQuants(b, qt, true), i8x16.splat(qt == QT_Q5_0 ? 16 : 8));
}

/** Σ_k x[k]·w[k] over one row of blocks. */
function dotRow(x: usize, w: usize, K: i32, qt: i32): f32 {
  const bytes = rowBytes(32, qt);
  let acc0 = f32x4.splat(0), acc1 = acc0;
  for (let k = 0; k < K; k += 32) {
    const q0 = quants0(w, qt), q1 = quants1(w, qt), xp = x + <usize>k * 4;
    let s0 = f32x4.mul(lo8(q0), v128.load(xp));
    let s1 = f32x4.mul(lo8b(q0), v128.load(xp, 16));
    s0 = fma(hi8(q0), v128.load(xp, 32), s0);
    s1 = fma(hi8b(q0), v128.load(xp, 48), s1);
    s0 = fma(lo8(q1), v128.load(xp, 64), s0);
    s1 = fma(lo8b(q1), v128.load(xp, 80), s1);
    s0 = fma(hi8(q1), v128.load(xp, 96), s0);
    s1 = fma(hi8b(q1), v128.load(xp, 112), s1);
    const d = f32x4.splat(half(<u32>load<u16>(w)));
    acc0 = fma(d, s0, acc0);
    acc1 = fma(d, s1, acc1);
    w += bytes;
  }
  return hsum(f32x4.add(acc0, acc1));
}

/** Σ_k x[k]·w[k] over one row of blocks, x given as splitX16's int16 parts xq, xl and scales xs. */
function dotRowQ16(xq: usize, xl: usize, xs: usize, w: usize, K: i32, qt: i32): f32 {
  const bytes = rowBytes(32, qt);
  let acc = f32x4.splat(0);
  for (let k = 0; k < K; k += 32) {
    let w0: v128, w1: v128, w2: v128, w3: v128;
    if (qt == QT_Q8_0) {
      w0 = v128.load8x8_s(w + 2); w1 = v128.load8x8_s(w + 10); w2 = v128.load8x8_s(w + 18); w3 = v128.load8x8_s(w + 26);
    } else {
      const lo = quants0(w, qt), hi = quants1(w, qt);
      w0 = i16x8.extend_low_i8x16_s(lo); w1 = i16x8.extend_high_i8x16_s(lo); w2 = i16x8.extend_low_i8x16_s(hi); w3 = i16x8.extend_high_i8x16_s(hi);
    }
    const o = <usize>k * 2;
    const h = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(xq + o)), i32x4.dot_i16x8_s(w1, v128.load(xq + o, 16))),
      i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(xq + o, 32)), i32x4.dot_i16x8_s(w3, v128.load(xq + o, 48))));
    const l = i32x4.add(i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(xl + o)), i32x4.dot_i16x8_s(w1, v128.load(xl + o, 16))),
      i32x4.add(i32x4.dot_i16x8_s(w2, v128.load(xl + o, 32)), i32x4.dot_i16x8_s(w3, v128.load(xl + o, 48))));
    const sh: f32 = half(<u32>load<u16>(w)) * load<f32>(xs + <usize>(k / XB) * 4);
    acc = fma(f32x4.convert_i32x4_s(l), f32x4.splat(sh / LO), fma(f32x4.convert_i32x4_s(h), f32x4.splat(sh), acc));
    w += bytes;
  }
  return hsum(acc);
}

/** dst[rows, K] f32 = the block rows at w. */
export function dequantize_rows_q(dst: usize, w: usize, rows: i32, K: i32, qt: i32): void {
  if (qt == QT_Q4_K) return dequantizeQ4K(dst, w, <usize>rows * <usize>(K >> 8));
  if (qt == QT_Q6_K) return dequantizeQ6K(dst, w, <usize>rows * <usize>(K >> 8));
  if (qt == QT_Q5_K) return dequantizeQ5K(dst, w, <usize>rows * <usize>(K >> 8));
  if (qt == QT_Q3_K) return dequantizeQ3K(dst, w, <usize>rows * <usize>(K >> 8));
  const bytes = rowBytes(32, qt), blocks = <usize>rows * <usize>(K >> 5);
  if (hasMin(qt)) {
    // d·q, then + m: two roundings, as gguf-py and the TypeScript reader (gguf/blocks.ts) compute it
    for (let b: usize = 0; b < blocks; b++) {
      const d = f32x4.splat(half(<u32>load<u16>(w))), m = f32x4.splat(half(<u32>load<u16>(w + 2))), q0 = quants0(w, qt), q1 = quants1(w, qt), o = dst + b * 128;
      v128.store(o, f32x4.add(f32x4.mul(d, lo8(q0)), m)); v128.store(o, f32x4.add(f32x4.mul(d, lo8b(q0)), m), 16);
      v128.store(o, f32x4.add(f32x4.mul(d, hi8(q0)), m), 32); v128.store(o, f32x4.add(f32x4.mul(d, hi8b(q0)), m), 48);
      v128.store(o, f32x4.add(f32x4.mul(d, lo8(q1)), m), 64); v128.store(o, f32x4.add(f32x4.mul(d, lo8b(q1)), m), 80);
      v128.store(o, f32x4.add(f32x4.mul(d, hi8(q1)), m), 96); v128.store(o, f32x4.add(f32x4.mul(d, hi8b(q1)), m), 112);
      w += bytes;
    }
    return;
  }
  for (let b: usize = 0; b < blocks; b++) {
    const d = f32x4.splat(half(<u32>load<u16>(w))), q0 = quants0(w, qt), q1 = quants1(w, qt), o = dst + b * 128;
    v128.store(o, f32x4.mul(d, lo8(q0))); v128.store(o, f32x4.mul(d, lo8b(q0)), 16);
    v128.store(o, f32x4.mul(d, hi8(q0)), 32); v128.store(o, f32x4.mul(d, hi8b(q0)), 48);
    v128.store(o, f32x4.mul(d, lo8(q1)), 64); v128.store(o, f32x4.mul(d, lo8b(q1)), 80);
    v128.store(o, f32x4.mul(d, hi8(q1)), 96); v128.store(o, f32x4.mul(d, hi8b(q1)), 112);
    w += bytes;
  }
}

/** out[n,dim] = table[ids[i]] with the table's rows in blocks of `qt`. */
export function embedding_gather_q(out: usize, table: usize, ids: usize, n: i32, dim: i32, qt: i32): void {
  const rb = rowBytes(dim, qt);
  for (let i = 0; i < n; i++) dequantize_rows_q(out + <usize>i * <usize>dim * 4, table + <usize>load<i32>(ids + <usize>i * 4) * rb, 1, dim, qt);
}

/** Y[M,N] (+)= X[M,K]·W[N,K]ᵀ with W in blocks of `qt` (K a multiple of the block's values); rows of Y are ldy floats apart. */
export function matmul_xwt_q(y: usize, ldy: i32, x: usize, w: usize, M: i32, N: i32, K: i32, qt: i32, accumulate: bool): void {
  const rb = rowBytes(K, qt), q16 = K <= XQ_MAX, sb = superBlocks(qt);
  // (Q5_K, whose 5-bit quants times scales would overflow the split products' i32 lanes, Q3_K,
  // and Q4_1 and Q5_1, whose min would need x's sums, dequantize)
  if (M < 4 && (q16 || !sb) && qt != QT_Q5_K && qt != QT_Q3_K && !hasMin(qt)) {
    // x's int16 parts, its scales per XB, and (Q4_K) its sums per 32
    const xq = packA(), xl = xq + <usize>K * 2, xs = xq + <usize>K * 4, xsum = xs + ((<usize>(K / XB) * 4 + 15) & ~(<usize>15));
    for (let m = 0; m < M; m++) {
      const xr = x + <usize>m * <usize>K * 4, yr = y + <usize>m * <usize>ldy * 4;
      if (q16) splitX16(xq, xs, xr, K);
      if (qt == QT_Q4_K) sumBlocks32(xsum, xr, K);
      for (let n = 0; n < N; n++) {
        const wr = w + <usize>n * rb, yp = yr + <usize>n * 4;
        let v: f32;
        if (qt == QT_Q4_K) v = dotRowQ4K(xq, xl, xs, xsum, wr, K);
        else if (qt == QT_Q6_K) v = dotRowQ6K(xq, xl, xs, wr, K);
        else v = q16 ? dotRowQ16(xq, xl, xs, wr, K, qt) : dotRow(xr, wr, K, qt);
        store<f32>(yp, accumulate ? load<f32>(yp) + v : v);
      }
    }
    return;
  }
  const tmp = qRows(), rows = chunkRows(K);
  for (let n0 = 0; n0 < N; n0 += rows) {
    const nb = min(rows, N - n0);
    dequantize_rows_q(tmp, w + <usize>n0 * rb, nb, K, qt);
    gemm(y + <usize>n0 * 4, ldy, x, K, 1, tmp, 1, K, WT_F32, 0, true, M, nb, K, accumulate);
  }
}

/** dX[M,K] (+)= dY[M,N]·W[N,K] with W in blocks of `qt`. */
export function matmul_dyw_q(dx: usize, dy: usize, w: usize, M: i32, N: i32, K: i32, qt: i32, accumulate: bool): void {
  const rb = rowBytes(K, qt), tmp = qRows(), rows = chunkRows(K);
  for (let n0 = 0; n0 < N; n0 += rows) {
    const nb = min(rows, N - n0);
    dequantize_rows_q(tmp, w + <usize>n0 * rb, nb, K, qt);
    gemm(dx, K, dy + <usize>n0 * 4, N, 1, tmp, K, 1, WT_F32, 0, false, M, K, nb, accumulate || n0 > 0);
  }
}

/** 1/d, or 0 where d is 0 or NaN (the reference quantizers' `d ? 1/d : 0`). */
// @ts-ignore: decorator
@inline function inverse(d: f32): f32 {
  return d != 0 && d == d ? <f32>1 / d : 0;
}

/** Q4_0's code of v: min(15, trunc(v·id + 8.5)) in f32, 0 where that is NaN or infinite (JavaScript's ToInt32). */
// @ts-ignore: decorator
@inline function nibble(v: f32, id: f32): i32 {
  const t = min<f32>(15, Mathf.trunc(v * id + <f32>8.5));
  return isFinite(t) ? <i32>t : 0;
}

/**
 * dst = the f32 values at src (n of them, a multiple of 32) as Q8_0 or Q4_0 blocks (qt), as llama.cpp's reference quantizers make them (gguf/blocks.ts's quantizeQ8_0 and
 * quantizeQ4_0, byte for byte): Q8_0 d = max|x|/127 and q = x·(1/d) rounded half away from zero;
 * Q4_0 d = (the value of largest magnitude)/−8 and q = min(15, trunc(x·(1/d) + 8.5)).
 */
export function quantize_blocks(dst: usize, src: usize, n: i32, qt: i32): void {
  const q8 = qt == QT_Q8_0, bytes = rowBytes(32, qt);
  for (let b = 0; b < (n >> 5); b++) {
    const p = src + <usize>b * 128, o = dst + <usize>b * bytes;
    if (q8) {
      let amax: f32 = 0;
      for (let j = 0; j < 32; j++) amax = max<f32>(amax, Mathf.abs(load<f32>(p + <usize>j * 4)));
      const d: f32 = amax / 127, id = inverse(d);
      store<u16>(o, <u16>halfBits(d));
      for (let j = 0; j < 32; j++) {
        // C's roundf, then JavaScript's ToInt8 (what DataView.setInt8 stores): modulo 256, 0 for NaN and infinities
        const v = <f64>(load<f32>(p + <usize>j * 4) * id), r = Math.floor(Math.abs(v) + 0.5);
        const m = r <= 255 ? <i32>r : isFinite(r) ? <i32>(r - 256 * Math.floor(r / 256)) : 0;
        store<u8>(o + 2 + <usize>j, <u8>(v < 0 ? 256 - m : m));
      }
    } else {
      let amax: f32 = 0, top: f32 = 0;
      for (let j = 0; j < 32; j++) {
        const v = load<f32>(p + <usize>j * 4);
        if (amax < Mathf.abs(v)) {
          amax = Mathf.abs(v);
          top = v;
        }
      }
      const d: f32 = top / -8, id = inverse(d);
      store<u16>(o, <u16>halfBits(d));
      for (let j = 0; j < 16; j++) {
        const lo = nibble(load<f32>(p + <usize>j * 4), id), hi = nibble(load<f32>(p + <usize>(j + 16) * 4), id);
        store<u8>(o + 2 + <usize>j, <u8>(lo | (hi << 4)));
      }
    }
  }
}
