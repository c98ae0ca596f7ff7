// Generation's integer path for Q8_0, Q4_0 and Q5_0 weights, as llama.cpp computes them: each row
// of X is quantized per block of 32 values to int8 with an f32 scale (dx = max|x|/127,
// q = round(x/dx)), each block's products with the weight quants sum exactly in i32, and only that
// sum meets the two scales in f32:
//   y[m,n] = Σ_b fl(dw[n,b]·dx[m,b])·isum[m,n,b], accumulated over b in order (fma),
//   isum = Σ qw·qx (Q8_0), Σ q·qx − 8·Σ qx with the nibbles q in 0..15 (Q4_0), or
//   Σ q·qx − 16·Σ qx with the 5-bit q in 0..31 (Q5_0);
//   Q4_1 and Q5_1 (w = d·q + m) add their min's term after each block's:
//   y[m,n] = Σ_b fl(dw·dx)·Σ q·qx + fl(mw·dx)·Σ qx, the two fmas in that order.
// Rounding x to 8 bits costs about 0.4% of each block's largest value; training and the exact
// path (qblocks.ts) keep f32 activations.
//
// Each (m, n) takes the same operations whether it is computed in a decoding step (4 weight rows
// against one x row) or in a tile (4 x rows against one weight row: prefill and batched
// decoding), so a batched row gives the bits of the row alone. The integer sums are exact in any
// order; the relaxed build dots the nibbles and the 5-bit quants with
// i16x8.relaxed_dot_i8x16_i7x16_s (they are the 7-bit operand, which every engine must treat
// alike; the two pair sums added stay inside int16: at most 4·31·128), the plain build widens them
// to int16 first: both builds give the same sums.
//
// matmul_xwt_qa, the export, also runs Q4_K, Q5_K, Q6_K and Q3_K: the same loops over the kernels of
// kqact.ts, whose activations are rounded per super-block of 256.

import { fma, halfHigh4, reduce4, storeLanes, topHalves4 } from './simd';
import { absMax32, roundInt8x16 } from './quant';
import { hasMin, matmul_xwt_q, QT_Q3_K, QT_Q4_0, QT_Q4_1, QT_Q4_K, QT_Q5_0, QT_Q5_1, QT_Q5_K, QT_Q6_K, QT_Q8_0, rowBytes, superBlocks, unsignedQuants } from './qblocks';
import { decode4K, quantizeRowsK, rowRegionBytes, SUMS_BYTES, tile4K } from './kqact';
import { QROWS_BYTES, qRows } from './workspace';
import { streamRows } from './gemm';

/** Weight rows (bytes) a tile pass keeps hot while every group of 4 x rows goes by. */
const TILE_WEIGHT_BYTES: usize = 256 << 10;

/**
 * Σ over one block of 32 of the weight block at wp (Q8_0, Q4_0, Q5_0, Q4_1 or Q5_1 quants, no scale) · rows of x's
 * int8 blocks at xp + r·k (r < rows: 1 or 4), the weights unpacked once for all rows: 4 rows are
 * reduced to one i32 lane each, one row is left in 4 lanes.
 */
// @ts-ignore: decorator
@inline function blockDot(wp: usize, xp: usize, k: usize, rows: i32, qt: i32): v128 {
  let r0: v128, r1 = i32x4.splat(0), r2 = r1, r3 = r1;
  if (qt == QT_Q8_0) {
    const w0 = v128.load8x8_s(wp + 2), w1 = v128.load8x8_s(wp + 10), w2 = v128.load8x8_s(wp + 18), w3 = v128.load8x8_s(wp + 26);
    r0 = q8Row(w0, w1, w2, w3, xp);
    if (rows == 4) {
      r1 = q8Row(w0, w1, w2, w3, xp + k);
      r2 = q8Row(w0, w1, w2, w3, xp + 2 * k);
      r3 = q8Row(w0, w1, w2, w3, xp + 3 * k);
    }
  } else {
    const lo = unsignedQuants(wp, qt, false), hi = unsignedQuants(wp, qt, true);
    r0 = q4Row(lo, hi, xp);
    if (rows == 4) {
      r1 = q4Row(lo, hi, xp + k);
      r2 = q4Row(lo, hi, xp + 2 * k);
      r3 = q4Row(lo, hi, xp + 3 * k);
    }
  }
  return rows == 1 ? r0 : reduce4(r0, r1, r2, r3);
}

/** Σ over a block of 32: Q8_0 quants widened to int16 (w0..w3) · x's int8 block at xp, in 4 i32 lanes. */
// @ts-ignore: decorator
@inline function q8Row(w0: v128, w1: v128, w2: v128, w3: v128, xp: usize): v128 {
  const a = i32x4.add(i32x4.dot_i16x8_s(w0, v128.load8x8_s(xp)), i32x4.dot_i16x8_s(w1, v128.load8x8_s(xp, 8)));
  return i32x4.add(a, i32x4.add(i32x4.dot_i16x8_s(w2, v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(w3, v128.load8x8_s(xp, 24))));
}

/** Σ over a block of 32: unsigned quants lo (values 0..15) and hi (16..31), 0..15 or 0..31 · x's int8 block at xp, in 4 i32 lanes. */
// @ts-ignore: decorator
@inline function q4Row(lo: v128, hi: v128, xp: usize): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    // pairs of products in int16 (at most 2·31·128 each), four of them after the sum (a dot with
    // ones, which engines keep in a register; extadd_pairwise reloads its constant at every use)
    const p = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp), lo), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp, 16), hi));
    return i32x4.dot_i16x8_s(p, i16x8.splat(1));
  }
  const a = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(lo), v128.load8x8_s(xp)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(lo), v128.load8x8_s(xp, 8)));
  const b = i32x4.add(i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_u(hi), v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(hi), v128.load8x8_s(xp, 24)));
  return i32x4.add(a, b);
}

/**
 * Quantizes rows [0, rows) of x f32[·, K] into the region at q: int8 rows at q (K bytes apart),
 * then per group of 4 rows and block b the scales dx at xd and 8 × the block's quant sum (Q4_0's
 * offset) at xs, as [group][block][4 rows]. From 4 rows on (tiles) the rows up to the next
 * multiple of 4 are zeros.
 */
function quantizeRows(q: usize, xd: usize, xs: usize, x: usize, rows: i32, K: i32): void {
  const nb = K >> 5, padded = rows < 4 ? rows : (rows + 3) & ~3;
  for (let m = 0; m < padded; m++) {
    const qr = q + <usize>m * <usize>K, slot = <usize>(((m >> 2) * nb) << 2) + <usize>(m & 3);
    if (m >= rows) {
      memory.fill(qr, 0, <usize>K);
      for (let b = 0; b < nb; b++) {
        store<f32>(xd + (slot + <usize>(b << 2)) * 4, 0);
        store<i32>(xs + (slot + <usize>(b << 2)) * 4, 0);
      }
      continue;
    }
    const xr = x + <usize>m * <usize>K * 4;
    for (let b = 0; b < nb; b++) {
      const p = xr + <usize>b * 128, qb = qr + <usize>b * 32, amax = absMax32(p, 1);
      const inv = f32x4.splat(amax == 0 ? 0 : <f32>127.0 / amax);
      const at = (slot + <usize>(b << 2)) * 4;
      store<f32>(xd + at, amax / <f32>127.0);
      store<i32>(xs + at, (roundInt8x16(p, inv, qb) + roundInt8x16(p + 64, inv, qb + 16)) << 3);
    }
  }
}

/** The quants' offset times x's block sums, from 8 × the sums (quantizeRows'): Q4_0's 8, Q5_0's 16; for Q4_1 and Q5_1 the sums. */
// @ts-ignore: decorator
@inline function offsetSums(sums8: v128, qt: i32): v128 {
  if (hasMin(qt)) return i32x4.shr_s(sums8, 3);
  return qt == QT_Q5_0 ? i32x4.shl(sums8, 1) : sums8;
}

/**
 * One x row (int8 at xr, its scales and sums at xd and xs, 4 floats apart) · 4 weight rows at w,
 * rb bytes apart (rb = 0: one row in every lane): the 4 results as lanes.
 */
// @ts-ignore: decorator
@inline function decode4(xr: usize, xd: usize, xs: usize, w: usize, rb: usize, K: i32, qt: i32): v128 {
  const bytes = rowBytes(32, qt), end = xr + <usize>K;
  let acc = f32x4.splat(0), wp = w, at: usize = 0;
  for (let xp = xr; xp < end; xp += 32) {
    const w1 = wp + rb, w2 = w1 + rb, w3 = w2 + rb;
    let s = reduce4(blockDot(wp, xp, 0, 1, qt), blockDot(w1, xp, 0, 1, qt), blockDot(w2, xp, 0, 1, qt), blockDot(w3, xp, 0, 1, qt));
    if (qt != QT_Q8_0 && !hasMin(qt)) s = i32x4.sub(s, offsetSums(v128.load32_splat(xs + at), qt));
    const dx = v128.load32_splat(xd + at);
    acc = fma(f32x4.convert_i32x4_s(s), f32x4.mul(halfHigh4(topHalves4(wp, w1, w2, w3)), dx), acc);
    if (hasMin(qt)) acc = fma(f32x4.convert_i32x4_s(offsetSums(v128.load32_splat(xs + at), qt)), f32x4.mul(halfHigh4(topHalves4(wp + 2, w1 + 2, w2 + 2, w3 + 2)), dx), acc);
    wp += bytes;
    at += 16;
  }
  return acc;
}

/** 4 x rows (int8 at xr, K bytes apart; their scales and sums at xd and xs as [block][4]) · one weight row at w: the 4 results as lanes. */
// @ts-ignore: decorator
@inline function tile4(xr: usize, xd: usize, xs: usize, w: usize, K: i32, qt: i32): v128 {
  const bytes = rowBytes(32, qt), k = <usize>K, end = xr + k;
  let acc = f32x4.splat(0), wp = w, at: usize = 0;
  for (let xp = xr; xp < end; xp += 32) {
    let s = blockDot(wp, xp, k, 4, qt);
    if (qt != QT_Q8_0 && !hasMin(qt)) s = i32x4.sub(s, offsetSums(v128.load(xs + at), qt));
    const dx = v128.load(xd + at);
    acc = fma(f32x4.convert_i32x4_s(s), f32x4.mul(halfHigh4(v128.load16_splat(wp)), dx), acc);
    if (hasMin(qt)) acc = fma(f32x4.convert_i32x4_s(offsetSums(v128.load(xs + at), qt)), f32x4.mul(halfHigh4(v128.load16_splat(wp + 2)), dx), acc);
    wp += bytes;
    at += 16;
  }
  return acc;
}

/** Y[M,N] (+)= X[M,K]·W[N,K]ᵀ for one chunk of rows already quantized at q, xd, xs. */
// @ts-ignore: decorator
@inline function productChunk(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, qt: i32, accumulate: bool): void {
  const sb = superBlocks(qt), rb = rowBytes(K, qt), groupStride = <usize>(sb ? K >> 8 : K >> 5) * 16;
  // x's sums: beside the scales for blocks of 32, row after row for super-blocks (kqact.ts)
  const sumsRow: usize = sb ? <usize>(K >> 8) * SUMS_BYTES : 4;
  if (rows < 4) {
    // Decoding: each x row against 4 weight rows at a time, one from each part of W (streamRows),
    // so that the reads are four long sequential streams (rows next to each other would be short ones).
    const a = streamRows(N), qb = <usize>a * rb, qy = <usize>a * 4;
    for (let m = 0; m < rows; m++) {
      const xr = q + <usize>m * <usize>K, md = xd + <usize>m * 4, ms = xs + <usize>m * sumsRow, yr = y + <usize>m * ldy * 4;
      for (let n = 0; n < a; n++) {
        const wr = w + <usize>n * rb;
        storeLanes(yr + <usize>n * 4, qy, sb ? decode4K(xr, md, ms, wr, qb, K, qt) : decode4(xr, md, ms, wr, qb, K, qt), 4, accumulate);
      }
      for (let n = a << 2; n < N; n++) {
        const wr = w + <usize>n * rb;
        storeLanes(yr + <usize>n * 4, 0, sb ? decode4K(xr, md, ms, wr, 0, K, qt) : decode4(xr, md, ms, wr, 0, K, qt), 1, accumulate);
      }
    }
    return;
  }
  // Tiles: a pass of weight rows that stays in cache meets every group of 4 x rows.
  const pass = max<i32>(1, <i32>(TILE_WEIGHT_BYTES / rb)), groups = (rows + 3) >> 2;
  for (let n0 = 0; n0 < N; n0 += pass) {
    const n1 = min(N, n0 + pass);
    for (let g = 0; g < groups; g++) {
      const m0 = g << 2, valid = min(4, rows - m0);
      const xr = q + <usize>m0 * <usize>K, gd = xd + <usize>g * groupStride, gs = sb ? xs + <usize>m0 * sumsRow : xs + <usize>g * groupStride;
      const yp0 = y + <usize>m0 * ldy * 4;
      for (let n = n0; n < n1; n++) {
        const wr = w + <usize>n * rb;
        storeLanes(yp0 + <usize>n * 4, ldy * 4, sb ? tile4K(xr, gd, gs, sumsRow, wr, K, qt) : tile4(xr, gd, gs, wr, K, qt), valid, accumulate);
      }
    }
  }
}

// One function per block type (not inlined into one large function, whose many constants the
// engine would keep in stack slots rather than registers in the inner loops).
function chunkQ8_0(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q8_0, accumulate);
}
function chunkQ4_0(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q4_0, accumulate);
}
function chunkQ5_0(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q5_0, accumulate);
}
function chunkQ4_1(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q4_1, accumulate);
}
function chunkQ5_1(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q5_1, accumulate);
}
function chunkQ4_K(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q4_K, accumulate);
}
function chunkQ5_K(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q5_K, accumulate);
}
function chunkQ3_K(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q3_K, accumulate);
}
function chunkQ6_K(y: usize, ldy: usize, q: usize, xd: usize, xs: usize, w: usize, rows: i32, N: i32, K: i32, accumulate: bool): void {
  productChunk(y, ldy, q, xd, xs, w, rows, N, K, QT_Q6_K, accumulate);
}

/**
 * Y[M,N] (+)= X[M,K]·W[N,K]ᵀ with W in blocks of qt and X rounded to int8 per block: of 32 for
 * Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1 (the file's header), of 256 for Q4_K, Q5_K, Q6_K and Q3_K (kqact.ts); rows of Y are ldy floats
 * apart. X is quantized in chunks of rows that fit the workspace's qRows region; a K too long for
 * 4 rows there takes the exact path.
 */
export function matmul_xwt_qa(y: usize, ldy: i32, x: usize, w: usize, M: i32, N: i32, K: i32, qt: i32, accumulate: bool): void {
  const sb = superBlocks(qt), perRow = sb ? rowRegionBytes(K) : <usize>K + <usize>(K >> 5) * 8;
  const chunk = <i32>(QROWS_BYTES / perRow) & ~3;
  if (chunk < 4) return matmul_xwt_q(y, ldy, x, w, M, N, K, qt, accumulate);
  const q = qRows(), xd = q + <usize>chunk * <usize>K, xs = xd + <usize>chunk * <usize>(sb ? K >> 8 : K >> 5) * 4;
  for (let m0 = 0; m0 < M; m0 += chunk) {
    const rows = min(chunk, M - m0), xc = x + <usize>m0 * <usize>K * 4, yc = y + <usize>m0 * <usize>ldy * 4;
    if (sb) quantizeRowsK(q, xd, xs, xc, rows, K);
    else quantizeRows(q, xd, xs, xc, rows, K);
    if (qt == QT_Q8_0) chunkQ8_0(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else if (qt == QT_Q4_0) chunkQ4_0(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else if (qt == QT_Q5_0) chunkQ5_0(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else if (qt == QT_Q4_1) chunkQ4_1(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else if (qt == QT_Q5_1) chunkQ5_1(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else if (qt == QT_Q4_K) chunkQ4_K(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else if (qt == QT_Q5_K) chunkQ5_K(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else if (qt == QT_Q3_K) chunkQ3_K(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
    else chunkQ6_K(yc, <usize>ldy, q, xd, xs, w, rows, N, K, accumulate);
  }
}
