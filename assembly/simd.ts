// Shared SIMD helpers: fused multiply-add that follows the build's features, exp, horizontal sums,
// f16 lanes to f32, scattered lane stores.

/** a·b + c, one rounding with relaxed SIMD (FMA), two without. */
// @ts-ignore: decorator
@inline export function fma(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * Each byte of v shifted right by n bits, then and-ed with mask, which must clear the top n bits
 * (they come from the next byte): i8x16.shr_u as one 16-bit shift and a mask, where engines
 * lower i8x16.shr_u on x86 to a 16-bit shift and a mask they build anew at every use.
 */
// @ts-ignore: decorator
@inline export function shrBytes(v: v128, n: i32, mask: i8): v128 {
  return v128.and(i16x8.shr_u(v, n), i8x16.splat(mask));
}

/** Each byte of v shifted left by n bits, then and-ed with mask, which must clear the low n bits (as shrBytes). */
// @ts-ignore: decorator
@inline export function shlBytes(v: v128, n: i32, mask: i8): v128 {
  return v128.and(i16x8.shl(v, n), i8x16.splat(mask));
}

/** Sum of the four lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  const s = f32x4.add(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return f32x4.extract_lane(s, 0) + f32x4.extract_lane(s, 1);
}

/** y[i·stride] (+)= lane i of v for lanes 0..lanes−1 (stride in bytes; `accumulate` adds). */
// @ts-ignore: decorator
@inline export function storeLanes(y: usize, stride: usize, v: v128, lanes: i32, accumulate: bool): void {
  const a = f32x4.extract_lane(v, 0), b = f32x4.extract_lane(v, 1), c = f32x4.extract_lane(v, 2), d = f32x4.extract_lane(v, 3);
  store<f32>(y, accumulate ? load<f32>(y) + a : a);
  if (lanes > 1) store<f32>(y + stride, accumulate ? load<f32>(y + stride) + b : b);
  if (lanes > 2) store<f32>(y + 2 * stride, accumulate ? load<f32>(y + 2 * stride) + c : c);
  if (lanes > 3) store<f32>(y + 3 * stride, accumulate ? load<f32>(y + 3 * stride) + d : d);
}

/**
 * Four finite f16 values, each in the top 16 bits of an i32 lane (the low 16 bits ignored), as
 * f32x4, subnormals included: the sign stays in bit 31, the exponent and mantissa move to f32's
 * places and × 2^112 rebiases the exponent. Infinities and NaNs would come out finite: weights
 * with such scales are refused as they load (src/model/block_scales.ts).
 */
// @ts-ignore: decorator
@inline export function halfHigh4(h: v128): v128 {
  return f32x4.mul(v128.and(i32x4.shr_s(h, 3), i32x4.splat(0x8fffe000)), f32x4.splat(5.192296858534828e33));
}

/** The u16 values at a, b, c and d as the top halves of the four i32 lanes, in order (for halfHigh4). */
// @ts-ignore: decorator
@inline export function topHalves4(a: usize, b: usize, c: usize, d: usize): v128 {
  let h = v128.load16_lane(a, i32x4.splat(0), 1);
  h = v128.load16_lane(b, h, 3);
  h = v128.load16_lane(c, h, 5);
  return v128.load16_lane(d, h, 7);
}

/** The lane sums of a, b, c, d as the lanes of one vector (exact in i32). */
// @ts-ignore: decorator
@inline export function reduce4(a: v128, b: v128, c: v128, d: v128): v128 {
  const ab = i32x4.add(i32x4.shuffle(a, b, 0, 4, 1, 5), i32x4.shuffle(a, b, 2, 6, 3, 7));
  const cd = i32x4.add(i32x4.shuffle(c, d, 0, 4, 1, 5), i32x4.shuffle(c, d, 2, 6, 3, 7));
  return i32x4.add(i32x4.shuffle(ab, cd, 0, 1, 4, 5), i32x4.shuffle(ab, cd, 2, 3, 6, 7));
}

/** Largest of the four lanes. */
// @ts-ignore: decorator
@inline export function hmax(v: v128): f32 {
  const s = f32x4.max(v, i32x4.shuffle(v, v, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(s, 0), f32x4.extract_lane(s, 1));
}

/** e^r·2^n's mantissa part: e^r for r = x − n·ln2 (|r| ≤ ln2/2), a degree-6 polynomial (Cephes). */
// @ts-ignore: decorator
@inline function expReduced(xc: v128, n: v128): v128 {
  let r = fma(n, f32x4.splat(-0.693359375), xc);
  r = fma(n, f32x4.splat(2.12194440e-4), r);
  let p = f32x4.splat(1.9875691500e-4);
  p = fma(p, r, f32x4.splat(1.3981999507e-3));
  p = fma(p, r, f32x4.splat(8.3334519073e-3));
  p = fma(p, r, f32x4.splat(4.1665795894e-2));
  p = fma(p, r, f32x4.splat(1.6666665459e-1));
  p = fma(p, r, f32x4.splat(5.0000001201e-1));
  return f32x4.add(fma(f32x4.mul(p, r), r, r), f32x4.splat(1.0));
}

/**
 * 1.5·2^23. For |v| < 2^22, v + ROUNDER is v rounded to the nearest integer (ties to even) plus
 * ROUNDER, and its bits minus ROUNDER's are that integer: two instructions for what nearest and
 * trunc_sat take about ten for (trunc_sat checks for NaN and out-of-range lanes, which the
 * clamped arguments here never are).
 */
const ROUNDER: f32 = 12582912.0;

/**
 * e^x per lane, Cephes-style: x = n·ln2 + r, |r| ≤ ln2/2, a degree-6 polynomial for e^r, 2^n
 * through the exponent bits. About 1 ulp over [-87.3, 88.7]; 0 below, +inf above, NaN stays NaN.
 * The clamps are pmin/pmax (a plain compare-and-pick each; min/max order NaNs and zeros, which
 * takes several instructions), the NaN lanes being put back at the end.
 */
// @ts-ignore: decorator
@inline export function exp4(x: v128): v128 {
  const lo = f32x4.splat(-87.33654), hi = f32x4.splat(88.72283);
  const xc = f32x4.pmin(f32x4.pmax(x, lo), hi);
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(ROUNDER)); // n + ROUNDER
  const n = f32x4.sub(t, f32x4.splat(ROUNDER)), y = expReduced(xc, n);
  // 2^n as 2^(n>>1)·2^(n−(n>>1)), so that n = 128 (x near 88.7) does not overflow the exponent.
  const ni = i32x4.sub(t, i32x4.splat(reinterpret<i32>(ROUNDER))), n1 = i32x4.shr_s(ni, 1), bias = i32x4.splat(127);
  const p1 = i32x4.shl(i32x4.add(n1, bias), 23), p2 = i32x4.shl(i32x4.add(i32x4.sub(ni, n1), bias), 23);
  let out = f32x4.mul(f32x4.mul(y, p1), p2);
  out = select4(f32x4.splat(0.0), out, f32x4.lt(x, lo));
  out = select4(f32x4.splat(Infinity), out, f32x4.gt(x, hi));
  return select4(x, out, f32x4.ne(x, x));
}

/** a where the lanes of mask (all ones or all zeros, as comparisons give) are set, else b. */
// @ts-ignore: decorator
@inline function select4(a: v128, b: v128, mask: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_laneselect(a, b, mask); // one blend; the same as bitselect for such masks
  return v128.bitselect(a, b, mask);
}

/**
 * e^x per lane for x ≤ 0 (softmax arguments after subtracting the maximum): exp4 without the
 * overflow handling; 0 below −87.3 and for −inf.
 */
// @ts-ignore: decorator
@inline export function exp4neg(x: v128): v128 {
  const lo = f32x4.splat(-87.33654);
  const xc = f32x4.pmax(x, lo);
  const t = f32x4.add(f32x4.mul(xc, f32x4.splat(1.44269504088896341)), f32x4.splat(ROUNDER)); // n + ROUNDER
  const n = f32x4.sub(t, f32x4.splat(ROUNDER));
  const pow2n = i32x4.shl(i32x4.add(i32x4.sub(t, i32x4.splat(reinterpret<i32>(ROUNDER))), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(expReduced(xc, n), pow2n), f32x4.lt(x, lo));
}

/** Scalar e^x with exactly the numerics of exp4. */
// @ts-ignore: decorator
@inline export function expf(x: f32): f32 {
  return f32x4.extract_lane(exp4(f32x4.splat(x)), 0);
}
