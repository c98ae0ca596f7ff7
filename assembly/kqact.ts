// Generation's integer path for Q4_K, Q5_K, Q6_K and Q3_K weights (kquants.ts), as llama.cpp computes them
// against its q8_K activations: each row of X is rounded to int8 per super-block of 256 values
// (dx = max|x|/127, nearest with ties to even), the quants meet it in exact integer products, the
// sub-block scales and mins are applied in integers, and only a super-block's one (Q6_K, Q3_K) or two
// (Q4_K, Q5_K) sums meet the f32 scales, accumulated over the super-blocks b in order (fma):
//   Q4_K: y = Σ_b isum·fl(d·dx) + imin·fl(−dmin·dx),
//         isum = Σ_j sc_j·Σ q·qx, imin = Σ_j min_j·Σ qx over the 8 runs j of 32 (q: nibbles 0..15);
//   Q5_K: as Q4_K, q in 0..31 (the nibble and its fifth bit);
//   Q6_K: y = Σ_b isum·fl(d·dx), isum = Σ_j sc_j·(Σ q·qx − 32·Σ qx) over the 16 runs of 16 (q: 0..63);
//   Q3_K: as Q6_K, with sc_j its 6-bit scales minus 32 and Σ_j sc_j·(Σ q·qx − 4·Σ qx) (q: 0..7).
// As qact.ts does for blocks of 32, decoding takes 4 weight rows against one x row and tiles take
// 4 x rows against one weight row, with the same operations for each (row, column), so a batched
// row has the bits of the row alone. The relaxed build dots x with the quants (the 7-bit operand
// of i16x8.relaxed_dot_i8x16_i7x16_s) in int16 pairs and applies a run's scale in the
// i32x4.dot_i16x8_s that widens them; the plain build multiplies the widened quants by the scale
// first. The integer sums are exact, so both builds get the same ones.
//
// Bounds: Q4_K's int16 lanes hold 4 products, at most 4·15·127 = 7620 (Q5_K's 4·31·127 = 15748);
// Q6_K's hold 2, at most 2·63·127 = 16002 (Q3_K's 2·7·127); the plain build's scaled quants at
// most 31·63 and 63·128. A super-block's sums stay under 2^29.

import { fma, halfHigh4, reduce4, shlBytes, shrBytes, topHalves4 } from './simd';
import { absMax32, roundInt8x16 } from './quant';
import { q3Quants, q6Quants, scalesMinsK4, scalesQ3K } from './kquants';
import { QT_Q3_K, QT_Q6_K, QT_Q5_K, rowBytes } from './qblocks';

/** Bytes of x's sums per super-block and row: 8 int16 sums of runs of 32, then 16 of runs of 16. */
export const SUMS_BYTES: usize = 48;

/** Bytes the activation region takes per x row of K values: the int8 values, dx and the sums. */
// @ts-ignore: decorator
@inline export function rowRegionBytes(K: i32): usize {
  return <usize>K + <usize>(K >> 8) * (4 + SUMS_BYTES);
}

/**
 * Quantizes rows [0, rows) of x f32[·, K] per super-block of 256 into the region: int8 rows at q
 * (K bytes apart), the scales dx at xd as [group of 4 rows][super-block][4], and each row's
 * sums at xs (SUMS_BYTES a super-block, rows after one another). From 4 rows on (tiles) the rows
 * up to the next multiple of 4 are zeros.
 */
export function quantizeRowsK(q: usize, xd: usize, xs: usize, x: usize, rows: i32, K: i32): void {
  const nsb = K >> 8, padded = rows < 4 ? rows : (rows + 3) & ~3, sumsRow = <usize>nsb * SUMS_BYTES;
  for (let m = 0; m < padded; m++) {
    const qr = q + <usize>m * <usize>K, slot = <usize>(((m >> 2) * nsb) << 2) + <usize>(m & 3), sr = xs + <usize>m * sumsRow;
    if (m >= rows) {
      memory.fill(qr, 0, <usize>K);
      memory.fill(sr, 0, sumsRow);
      for (let b = 0; b < nsb; b++) store<f32>(xd + (slot + <usize>(b << 2)) * 4, 0);
      continue;
    }
    const xr = x + <usize>m * <usize>K * 4;
    for (let b = 0; b < nsb; b++) {
      const p = xr + <usize>b * 1024, qb = qr + <usize>b * 256, s = sr + <usize>b * SUMS_BYTES, amax = absMax32(p, 8);
      const inv = f32x4.splat(amax == 0 ? 0 : <f32>127.0 / amax);
      store<f32>(xd + (slot + <usize>(b << 2)) * 4, amax / <f32>127.0);
      for (let j = 0; j < 8; j++) {
        const lo = roundInt8x16(p + <usize>j * 128, inv, qb + <usize>j * 32), hi = roundInt8x16(p + <usize>j * 128 + 64, inv, qb + <usize>j * 32 + 16);
        store<i16>(s + <usize>j * 2, <i16>(lo + hi));
        store<i16>(s + 16 + <usize>j * 4, <i16>lo);
        store<i16>(s + 18 + <usize>j * 4, <i16>hi);
      }
    }
  }
}

/** sc·Σ q·x over a run of 32: quants a (values 0..15) and b (16..31), 0..31 each, x's int8 at xp, sc as int16 lanes: 4 i32 lanes. */
// @ts-ignore: decorator
@inline function run32(a: v128, b: v128, xp: usize, sc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) {
    const p = i16x8.add(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp), a), i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp, 16), b));
    return i32x4.dot_i16x8_s(p, sc);
  }
  const s = i32x4.add(i32x4.dot_i16x8_s(i16x8.mul(i16x8.extend_low_i8x16_u(a), sc), v128.load8x8_s(xp)), i32x4.dot_i16x8_s(i16x8.mul(i16x8.extend_high_i8x16_u(a), sc), v128.load8x8_s(xp, 8)));
  return i32x4.add(s, i32x4.add(i32x4.dot_i16x8_s(i16x8.mul(i16x8.extend_low_i8x16_u(b), sc), v128.load8x8_s(xp, 16)), i32x4.dot_i16x8_s(i16x8.mul(i16x8.extend_high_i8x16_u(b), sc), v128.load8x8_s(xp, 24))));
}

/** sc·Σ q·x over a run of 16: quants q (0..63), x's int8 at xp, sc as int16 lanes: 4 i32 lanes. */
// @ts-ignore: decorator
@inline function run16(q: v128, xp: usize, sc: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.dot_i16x8_s(i16x8.relaxed_dot_i8x16_i7x16_s(v128.load(xp), q), sc);
  return i32x4.add(i32x4.dot_i16x8_s(i16x8.mul(i16x8.extend_low_i8x16_u(q), sc), v128.load8x8_s(xp)), i32x4.dot_i16x8_s(i16x8.mul(i16x8.extend_high_i8x16_u(q), sc), v128.load8x8_s(xp, 8)));
}

/** int16 lane j (a constant) of v in every lane. */
// @ts-ignore: decorator
@inline function splatLane16(v: v128, j: i32): v128 {
  const index = i16x8.splat(<i16>(0x0100 + 0x0202 * j));
  if (ASC_FEATURE_RELAXED_SIMD) return i8x16.relaxed_swizzle(v, index); // indices in range: the same on every engine
  return i8x16.swizzle(v, index);
}

/** The two runs of 32 of one 64-value chunk of Q4_K (low nibbles a0, a1; high b0, b1) against x at xp, scales s1 and s2. */
// @ts-ignore: decorator
@inline function chunk64(a0: v128, a1: v128, b0: v128, b1: v128, xp: usize, s1: v128, s2: v128): v128 {
  return i32x4.add(run32(a0, a1, xp, s1), run32(b0, b1, xp + 32, s2));
}

/** Whether `qt` has a scale per run of 16 values and no mins (Q6_K, Q3_K: sumRuns16), rather than Q4_K's and Q5_K's runs of 32. */
// @ts-ignore: decorator
@inline function runs16(qt: i32): bool {
  return qt == QT_Q6_K || qt == QT_Q3_K;
}

/** Byte offset of the f16 d in a Q6_K or Q3_K super-block. */
// @ts-ignore: decorator
@inline function dAt(qt: i32): usize {
  return qt == QT_Q3_K ? 108 : 208;
}

/**
 * isum of one Q4_K or Q5_K (qt) super-block at w (sm: its scalesMinsK4) against rows of x's 256
 * int8 at xp + r·k (r < rows: 1 or 4); 4 rows are reduced to one lane each, one row is left in 4 lanes.
 */
// @ts-ignore: decorator
@inline function sumQ4K(w: usize, sm: v128, xp: usize, k: usize, rows: i32, qt: i32): v128 {
  const low = i8x16.splat(15), q5 = qt == QT_Q5_K, qs = w + (q5 ? 48 : 16);
  // the 8 scales as int16 lanes: each chunk takes lanes 0 and 1, then rotates the next two in, so
  // that the swizzle indices are two constants the engine keeps in registers (an index built per
  // chunk cost six instructions a scale)
  let sc = i16x8.extend_low_i8x16_u(sm);
  // Q5_K's fifth bits: chunk c's runs take bits 2c and 2c + 1 of each byte, which a shift of 2 a
  // chunk brings down to bits 0 and 1 (shift counts that change with c would cost a select of
  // both shifts, c being the loop's variable)
  let h0 = q5 ? v128.load(w + 16) : low, h1 = q5 ? v128.load(w + 32) : low;
  let r0 = i32x4.splat(0), r1 = r0, r2 = r0, r3 = r0;
  for (let c = 0; c < 4; c++) {
    const v0 = v128.load(qs + <usize>c * 32), v1 = v128.load(qs + 16 + <usize>c * 32), o = xp + <usize>c * 64;
    let a0 = v128.and(v0, low), a1 = v128.and(v1, low), b0 = shrBytes(v0, 4, 15), b1 = shrBytes(v1, 4, 15);
    if (q5) {
      a0 = v128.or(a0, shlBytes(h0, 4, 16));
      a1 = v128.or(a1, shlBytes(h1, 4, 16));
      b0 = v128.or(b0, shlBytes(h0, 3, 16));
      b1 = v128.or(b1, shlBytes(h1, 3, 16));
      h0 = i16x8.shr_u(h0, 2);
      h1 = i16x8.shr_u(h1, 2);
    }
    const s1 = splatLane16(sc, 0), s2 = splatLane16(sc, 1);
    sc = i8x16.shuffle(sc, sc, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3);
    r0 = i32x4.add(r0, chunk64(a0, a1, b0, b1, o, s1, s2));
    if (rows == 4) {
      r1 = i32x4.add(r1, chunk64(a0, a1, b0, b1, o + k, s1, s2));
      r2 = i32x4.add(r2, chunk64(a0, a1, b0, b1, o + 2 * k, s1, s2));
      r3 = i32x4.add(r3, chunk64(a0, a1, b0, b1, o + 3 * k, s1, s2));
    }
  }
  return rows == 1 ? r0 : reduce4(r0, r1, r2, r3);
}

/** imin of one Q4_K super-block (sm: its scalesMinsK4) against x's sums at s: 4 i32 lanes. */
// @ts-ignore: decorator
@inline function minsQ4K(sm: v128, s: usize): v128 {
  return i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_u(sm), v128.load(s));
}

/**
 * The quants' offset (Q6_K's 32, Q3_K's 4: 2^shift) times Σ_j sc_j·Σ qx over the 16 runs of one
 * super-block (its scales 0..7 and 8..15 as int16 lanes lo, hi) against x's sums at s: 4 i32 lanes.
 */
// @ts-ignore: decorator
@inline function offsetRuns16(lo: v128, hi: v128, s: usize, shift: i32): v128 {
  return i32x4.shl(i32x4.add(i32x4.dot_i16x8_s(lo, v128.load(s, 16)), i32x4.dot_i16x8_s(hi, v128.load(s, 32))), shift);
}

/** The four runs of 16 of one group of Q6_K or Q3_K (quants q0..q3, scales c0..c3) against x's runs at xp, xp + 32, xp + 64, xp + 96. */
// @ts-ignore: decorator
@inline function quad16(q0: v128, q1: v128, q2: v128, q3: v128, c0: v128, c1: v128, c2: v128, c3: v128, xp: usize): v128 {
  return i32x4.add(i32x4.add(run16(q0, xp, c0), run16(q1, xp + 32, c1)), i32x4.add(run16(q2, xp + 64, c2), run16(q3, xp + 96, c3)));
}

/**
 * isum of one Q6_K or Q3_K (qt) super-block at w against rows of x (int8 at xp + r·k, sums at
 * s + r·sumsRow, r < rows: 1 or 4); 4 rows are reduced to one lane each, one row is left in 4 lanes.
 */
// @ts-ignore: decorator
@inline function sumRuns16(w: usize, xp: usize, k: usize, s: usize, sumsRow: usize, rows: i32, qt: i32): v128 {
  let r0 = i32x4.splat(0), r1 = r0, r2 = r0, r3 = r0;
  const isQ3 = qt == QT_Q3_K, shift = isQ3 ? 2 : 5;
  const scales = isQ3 ? scalesQ3K(w + 96) : v128.load(w + 192), lo = i16x8.extend_low_i8x16_s(scales), hi = i16x8.extend_high_i8x16_s(scales);
  for (let hf = 0; hf < 2; hf++) {
    // the half's 8 scales as int16 lanes, the group's 4 at lanes 0, 2, 4, 6 (rotated on per group)
    let sc = hf == 0 ? lo : hi;
    for (let l0 = 0; l0 < 32; l0 += 16) {
      let q0: v128, q1: v128, q2: v128, q3: v128;
      if (isQ3) {
        // Q3_K: the half's 2-bit parts, and the high bits of both halves shifted down to this half's
        const qs = v128.load(w + 32 + <usize>(32 * hf + l0)), hm = i16x8.shr_u(v128.load(w + <usize>l0), 4 * hf);
        q0 = q3Quants(qs, hm, 0); q1 = q3Quants(qs, hm, 1); q2 = q3Quants(qs, hm, 2); q3 = q3Quants(qs, hm, 3);
      } else {
        const ql = w + <usize>(64 * hf + l0), qh = w + 128 + <usize>(32 * hf + l0);
        q0 = q6Quants(ql, qh, 0); q1 = q6Quants(ql, qh, 1); q2 = q6Quants(ql, qh, 2); q3 = q6Quants(ql, qh, 3);
      }
      const c0 = splatLane16(sc, 0), c1 = splatLane16(sc, 2), c2 = splatLane16(sc, 4), c3 = splatLane16(sc, 6);
      sc = i8x16.shuffle(sc, sc, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1);
      const run = xp + <usize>(128 * hf + l0);
      r0 = i32x4.add(r0, quad16(q0, q1, q2, q3, c0, c1, c2, c3, run));
      if (rows == 4) {
        r1 = i32x4.add(r1, quad16(q0, q1, q2, q3, c0, c1, c2, c3, run + k));
        r2 = i32x4.add(r2, quad16(q0, q1, q2, q3, c0, c1, c2, c3, run + 2 * k));
        r3 = i32x4.add(r3, quad16(q0, q1, q2, q3, c0, c1, c2, c3, run + 3 * k));
      }
    }
  }
  if (rows == 1) return i32x4.sub(r0, offsetRuns16(lo, hi, s, shift));
  return reduce4(i32x4.sub(r0, offsetRuns16(lo, hi, s, shift)), i32x4.sub(r1, offsetRuns16(lo, hi, s + sumsRow, shift)),
    i32x4.sub(r2, offsetRuns16(lo, hi, s + 2 * sumsRow, shift)), i32x4.sub(r3, offsetRuns16(lo, hi, s + 3 * sumsRow, shift)));
}

/**
 * One x row (int8 at xr, its dx at xd, 4 floats apart a super-block, its sums at xs) · 4 weight
 * rows at w, rb bytes apart (rb = 0: one row in every lane): the 4 results as lanes.
 */
// @ts-ignore: decorator
@inline export function decode4K(xr: usize, xd: usize, xs: usize, w: usize, rb: usize, K: i32, qt: i32): v128 {
  const bytes = rowBytes(256, qt), end = xr + <usize>K;
  let acc = f32x4.splat(0), wp = w, s = xs, dp = xd;
  for (let xp = xr; xp < end; xp += 256) {
    const w1 = wp + rb, w2 = w1 + rb, w3 = w2 + rb, dx = v128.load32_splat(dp);
    if (!runs16(qt)) {
      const m0 = scalesMinsK4(wp + 4), m1 = scalesMinsK4(w1 + 4), m2 = scalesMinsK4(w2 + 4), m3 = scalesMinsK4(w3 + 4);
      const isum = reduce4(sumQ4K(wp, m0, xp, 0, 1, qt), sumQ4K(w1, m1, xp, 0, 1, qt), sumQ4K(w2, m2, xp, 0, 1, qt), sumQ4K(w3, m3, xp, 0, 1, qt));
      const imin = reduce4(minsQ4K(m0, s), minsQ4K(m1, s), minsQ4K(m2, s), minsQ4K(m3, s));
      let h = v128.load32_lane(wp, i32x4.splat(0), 0); // d | dmin << 16
      h = v128.load32_lane(w1, h, 1);
      h = v128.load32_lane(w2, h, 2);
      h = v128.load32_lane(w3, h, 3);
      acc = fma(f32x4.convert_i32x4_s(isum), f32x4.mul(halfHigh4(i32x4.shl(h, 16)), dx), acc);
      acc = fma(f32x4.convert_i32x4_s(imin), f32x4.neg(f32x4.mul(halfHigh4(h), dx)), acc);
    } else {
      const isum = reduce4(sumRuns16(wp, xp, 0, s, 0, 1, qt), sumRuns16(w1, xp, 0, s, 0, 1, qt), sumRuns16(w2, xp, 0, s, 0, 1, qt), sumRuns16(w3, xp, 0, s, 0, 1, qt));
      const at = dAt(qt);
      acc = fma(f32x4.convert_i32x4_s(isum), f32x4.mul(halfHigh4(topHalves4(wp + at, w1 + at, w2 + at, w3 + at)), dx), acc);
    }
    wp += bytes;
    s += SUMS_BYTES;
    dp += 16;
  }
  return acc;
}

/**
 * 4 x rows (int8 at xr, K bytes apart; their dx at xd as [super-block][4]; their sums at xs,
 * sumsRow bytes apart) · one weight row at w: the 4 results as lanes.
 */
// @ts-ignore: decorator
@inline export function tile4K(xr: usize, xd: usize, xs: usize, sumsRow: usize, w: usize, K: i32, qt: i32): v128 {
  const bytes = rowBytes(256, qt), k = <usize>K, end = xr + k;
  let acc = f32x4.splat(0), wp = w, s = xs, dp = xd;
  for (let xp = xr; xp < end; xp += 256) {
    const dx = v128.load(dp);
    if (!runs16(qt)) {
      const sm = scalesMinsK4(wp + 4), h = v128.load32_splat(wp); // d | dmin << 16
      const isum = sumQ4K(wp, sm, xp, k, 4, qt);
      const imin = reduce4(minsQ4K(sm, s), minsQ4K(sm, s + sumsRow), minsQ4K(sm, s + 2 * sumsRow), minsQ4K(sm, s + 3 * sumsRow));
      acc = fma(f32x4.convert_i32x4_s(isum), f32x4.mul(halfHigh4(i32x4.shl(h, 16)), dx), acc);
      acc = fma(f32x4.convert_i32x4_s(imin), f32x4.neg(f32x4.mul(halfHigh4(h), dx)), acc);
    } else {
      const isum = sumRuns16(wp, xp, k, s, sumsRow, 4, qt);
      acc = fma(f32x4.convert_i32x4_s(isum), f32x4.mul(halfHigh4(v128.load16_splat(wp + dAt(qt))), dx), acc);
    }
    wp += bytes;
    s += SUMS_BYTES;
    dp += 16;
  }
  return acc;
}
