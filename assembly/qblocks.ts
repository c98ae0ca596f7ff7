// Linear-layer products over llama.cpp's block-quantized weights: rows of K values stored as K/32
// blocks, Q8_0 (f16 scale d, 32 int8 q: w = d·q) or Q4_0 (f16 d, 16 bytes of nibbles, low
// nibbles values 0..15 and high nibbles 16..31: w = d·(q − 8)).
//
// Decoding (fewer than 4 rows of X) dots each weight row with x block by block: x is split into
// two int16 parts (gemm.ts splitX16, about 30 bits), the 32 quants widened to int16 in
// registers meet them in exact integer multiply-adds (i32x4.dot_i16x8_s), and each block's two
// sums are scaled by its d and x's scale (rows longer than XQ_MAX widen the quants to f32
// instead). Longer inputs dequantize as
// many weight rows as the workspace's qRows region holds (1 MiB) and run the f32 GEMM on them.

import { fma, hsum } from './simd';
import { gemm, LO, splitX16, WT_F32, XB, XQ_MAX } from './gemm';
import { QROWS_BYTES, packA, qRows } from './workspace';

export const QT_Q8_0: i32 = 3;
export const QT_Q4_0: i32 = 4;

/** Weight rows of K values dequantized per GEMM call. */
// @ts-ignore: decorator
@inline function chunkRows(K: i32): i32 {
  return max(1, <i32>(QROWS_BYTES / (<usize>K * 4)));
}

/** Bytes of one row of K values. */
// @ts-ignore: decorator
@inline function rowBytes(K: i32, qt: i32): usize {
  return <usize>(K >> 5) * (qt == QT_Q8_0 ? 34 : 18);
}

/** IEEE half-precision bits to f32. */
// @ts-ignore: decorator
@inline function half(h: u32): f32 {
  const s = (h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) return reinterpret<f32>(s | reinterpret<u32>(<f32>m * 5.9604644775390625e-8));
  if (e == 31) return reinterpret<f32>(s | 0x7f800000 | (m << 13));
  return reinterpret<f32>(s | ((e + 112) << 23) | (m << 13));
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

/** The block's 32 quants as two vectors of 16 int8 (values 0..15 and 16..31). */
// @ts-ignore: decorator
@inline function quants0(b: usize, qt: i32): v128 {
  if (qt == QT_Q8_0) return v128.load(b + 2);
  return i8x16.sub(v128.and(v128.load(b + 2), i8x16.splat(15)), i8x16.splat(8));
}
// @ts-ignore: decorator
@inline function quants1(b: usize, qt: i32): v128 {
  if (qt == QT_Q8_0) return v128.load(b + 18);
  return i8x16.sub(i8x16.shr_u(v128.load(b + 2), 4), i8x16.splat(8));
}

/** Σ_k x[k]·w[k] over one row of blocks. */
function dotRow(x: usize, w: usize, K: i32, qt: i32): f32 {
  const bytes: usize = qt == QT_Q8_0 ? 34 : 18;
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
  const bytes: usize = qt == QT_Q8_0 ? 34 : 18;
  let acc = f32x4.splat(0);
  for (let k = 0; k < K; k += 32) {
    let w0: v128, w1: v128, w2: v128, w3: v128;
    if (qt == QT_Q8_0) {
      w0 = v128.load8x8_s(w + 2); w1 = v128.load8x8_s(w + 10); w2 = v128.load8x8_s(w + 18); w3 = v128.load8x8_s(w + 26);
    } else {
      const v = v128.load(w + 2);
      const lo = i8x16.sub(v128.and(v, i8x16.splat(15)), i8x16.splat(8)), hi = i8x16.sub(i8x16.shr_u(v, 4), i8x16.splat(8));
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
  const bytes: usize = qt == QT_Q8_0 ? 34 : 18, blocks = <usize>rows * <usize>(K >> 5);
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

/** Y[M,N] (+)= X[M,K]·W[N,K]ᵀ with W in blocks of `qt` (K a multiple of 32); rows of Y are ldy floats apart. */
export function matmul_xwt_q(y: usize, ldy: i32, x: usize, w: usize, M: i32, N: i32, K: i32, qt: i32, accumulate: bool): void {
  const rb = rowBytes(K, qt);
  if (M < 4) {
    const xq = packA(), xl = xq + <usize>K * 2, xs = xq + <usize>K * 4, q16 = K <= XQ_MAX;
    for (let m = 0; m < M; m++) {
      const xr = x + <usize>m * <usize>K * 4, yr = y + <usize>m * <usize>ldy * 4;
      if (q16) splitX16(xq, xs, xr, K);
      for (let n = 0; n < N; n++) {
        const wr = w + <usize>n * rb, v = q16 ? dotRowQ16(xq, xl, xs, wr, K, qt) : dotRow(xr, wr, K, qt), yp = yr + <usize>n * 4;
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
