// llama.cpp's super-blocks of 256 values (its "K-quants"), dequantized in registers:
// - Q4_K, 144 bytes: f16 d, f16 dmin, 12 bytes packing eight 6-bit (scale, min) pairs, 128 bytes
//   of nibbles; each 64 values use 32 bytes, low nibbles the first 32 with pair 2c, high nibbles
//   the next 32 with pair 2c+1: w = d·scale·q − dmin·min.
// - Q5_K, 176 bytes: Q4_K's d, dmin and 12 bytes of pairs, then 32 bytes of fifth bits (bit i of
//   byte l: value l of the i-th run of 32), then Q4_K's 128 bytes of nibbles: q = nibble + 16·bit.
// - Q6_K, 210 bytes: 128 bytes of low nibbles (ql), 64 bytes of 2-bit high parts (qh), 16 int8
//   scales, f16 d; each half of 128 values reads 64 bytes of ql and 32 of qh, and value
//   l + 32g (g = 0..3) of a half takes ql's low (g even) or high (g odd) nibble of byte l + 32·(g&1)
//   and bits 2g..2g+1 of qh byte l: w = d·scale·(q − 32), one scale per 16 values.
// - Q3_K, 110 bytes: 32 bytes of high bits (hmask), 64 bytes of 2-bit low parts (qs), 12 bytes
//   packing sixteen 6-bit scales, f16 d; value l + 32g of half h (g = 0..3, l = 0..31) takes bits
//   2g..2g+1 of qs byte 32h + l and bit 4h + g of hmask byte l as its third bit:
//   w = d·(scale − 32)·(q − 4), one scale per 16 values, laid out as Q6_K's.
//
// The dot products meet x as splitX16 leaves it (two int16 parts, one scale per 256 values, which
// is one super-block): the quants times their small integer scales fit int16 and the products
// sum exactly in i32 (bounds at each sum), so each super-block costs two conversions to f32.

import { fma, hsum, shlBytes, shrBytes } from './simd';
import { half } from './quant';
import { LO } from './gemm';

export const Q4K_BYTES: usize = 144;
export const Q6K_BYTES: usize = 210;
export const Q5K_BYTES: usize = 176;
export const Q3K_BYTES: usize = 110;

/** Q4_K's 6-bit scale j (0..7) of the 12 packed bytes at p. */
// @ts-ignore: decorator
@inline function scaleK4(p: usize, j: i32): i32 {
  if (j < 4) return load<u8>(p + <usize>j) & 63;
  return (load<u8>(p + <usize>(j + 4)) & 15) | ((load<u8>(p + <usize>(j - 4)) >> 6) << 4);
}

/** Q4_K's 6-bit min j (0..7) of the 12 packed bytes at p. */
// @ts-ignore: decorator
@inline function minK4(p: usize, j: i32): i32 {
  if (j < 4) return load<u8>(p + <usize>(j + 4)) & 63;
  return (load<u8>(p + <usize>(j + 4)) >> 4) | ((load<u8>(p + <usize>j) >> 6) << 4);
}

/**
 * Q4_K's eight 6-bit scales (u8 lanes 0..7) and eight mins (lanes 8..15) of the 12 packed bytes
 * at p, as scaleK4 and minK4 read them one at a time (reads 16 bytes).
 */
// @ts-ignore: decorator
@inline export function scalesMinsK4(p: usize): v128 {
  const v = v128.load(p);
  // a: the bytes holding each lane's low bits; b: those holding the top 2 bits of lanes 4..7 and 12..15
  const a = i8x16.shuffle(v, v, 0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11);
  const b = i8x16.shuffle(v, i8x16.splat(0), 16, 16, 16, 16, 0, 1, 2, 3, 16, 16, 16, 16, 4, 5, 6, 7);
  const top = shrBytes(b, 2, 0x30);
  const nib = v128.bitselect(v128.and(a, i8x16.splat(15)), shrBytes(a, 4, 15), i8x16(0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0));
  return v128.bitselect(v128.and(a, i8x16.splat(63)), v128.or(nib, top), i8x16(-1, -1, -1, -1, 0, 0, 0, 0, -1, -1, -1, -1, 0, 0, 0, 0));
}

/** The exact i32 sums Σ w·x over 16 values: w as two int16x8 halves, x's int16 part at xp. */
// @ts-ignore: decorator
@inline function dot16(w0: v128, w1: v128, xp: usize): v128 {
  return i32x4.add(i32x4.dot_i16x8_s(w0, v128.load(xp)), i32x4.dot_i16x8_s(w1, v128.load(xp, 16)));
}

/** dst[K/32] = Σ x over each run of 32 values (the sums Q4_K's mins multiply). */
export function sumBlocks32(dst: usize, x: usize, K: i32): void {
  for (let k = 0; k < K; k += 32) {
    const p = x + <usize>k * 4;
    const s = f32x4.add(
      f32x4.add(f32x4.add(v128.load(p), v128.load(p, 16)), f32x4.add(v128.load(p, 32), v128.load(p, 48))),
      f32x4.add(f32x4.add(v128.load(p, 64), v128.load(p, 80)), f32x4.add(v128.load(p, 96), v128.load(p, 112))),
    );
    store<f32>(dst + <usize>(k >> 5) * 4, hsum(s));
  }
}

/**
 * Σ_k x[k]·w[k] over one Q4_K row of K values, x as splitX16's parts xq, xl and scales xs, with
 * xsum its sums per 32 (sumBlocks32). A lane sums 64 products per super-block of at most
 * 15·63·32767 each: 1.98e9, inside i32.
 */
export function dotRowQ4K(xq: usize, xl: usize, xs: usize, xsum: usize, w: usize, K: i32): f32 {
  let acc = f32x4.splat(0), mins: f32 = 0;
  const low = i8x16.splat(15);
  for (let b = 0; b < K; b += 256) {
    const sc = w + 4;
    let h = i32x4.splat(0), l = h, m: f32 = 0;
    for (let c = 0; c < 4; c++) {
      const v0 = v128.load(w + 16 + <usize>c * 32), v1 = v128.load(w + 32 + <usize>c * 32);
      const s1 = i16x8.splat(<i16>scaleK4(sc, 2 * c)), s2 = i16x8.splat(<i16>scaleK4(sc, 2 * c + 1));
      const a0 = v128.and(v0, low), a1 = v128.and(v1, low), b0 = shrBytes(v0, 4, 15), b1 = shrBytes(v1, 4, 15);
      const wa0 = i16x8.mul(i16x8.extend_low_i8x16_u(a0), s1), wa1 = i16x8.mul(i16x8.extend_high_i8x16_u(a0), s1);
      const wa2 = i16x8.mul(i16x8.extend_low_i8x16_u(a1), s1), wa3 = i16x8.mul(i16x8.extend_high_i8x16_u(a1), s1);
      const wb0 = i16x8.mul(i16x8.extend_low_i8x16_u(b0), s2), wb1 = i16x8.mul(i16x8.extend_high_i8x16_u(b0), s2);
      const wb2 = i16x8.mul(i16x8.extend_low_i8x16_u(b1), s2), wb3 = i16x8.mul(i16x8.extend_high_i8x16_u(b1), s2);
      const o = <usize>(b + 64 * c) * 2;
      h = i32x4.add(h, i32x4.add(i32x4.add(dot16(wa0, wa1, xq + o), dot16(wa2, wa3, xq + o + 32)),
        i32x4.add(dot16(wb0, wb1, xq + o + 64), dot16(wb2, wb3, xq + o + 96))));
      l = i32x4.add(l, i32x4.add(i32x4.add(dot16(wa0, wa1, xl + o), dot16(wa2, wa3, xl + o + 32)),
        i32x4.add(dot16(wb0, wb1, xl + o + 64), dot16(wb2, wb3, xl + o + 96))));
      const xm = xsum + <usize>((b >> 5) + 2 * c) * 4;
      m += <f32>minK4(sc, 2 * c) * load<f32>(xm) + <f32>minK4(sc, 2 * c + 1) * load<f32>(xm, 4);
    }
    const ds: f32 = half(<u32>load<u16>(w)) * load<f32>(xs + <usize>(b >> 8) * 4);
    acc = fma(f32x4.convert_i32x4_s(l), f32x4.splat(ds / LO), fma(f32x4.convert_i32x4_s(h), f32x4.splat(ds), acc));
    mins += half(<u32>load<u16>(w + 2)) * m;
    w += Q4K_BYTES;
  }
  return hsum(acc) - mins;
}

/** Q6_K's run g of 16 six-bit quants (0..63) at ql, ql + 32 and qh, as u8 lanes (group g: values l0 + 32g). */
// @ts-ignore: decorator
@inline export function q6Quants(ql: usize, qh: usize, g: i32): v128 {
  const lo = v128.load(ql + <usize>((g & 1) * 32)), hi = v128.load(qh);
  const nib = g < 2 ? v128.and(lo, i8x16.splat(15)) : shrBytes(lo, 4, 15);
  let top: v128;
  if (g == 0) top = shlBytes(hi, 4, 0x30);
  else if (g == 1) top = shlBytes(hi, 2, 0x30);
  else if (g == 2) top = v128.and(hi, i8x16.splat(0x30));
  else top = shrBytes(hi, 2, 0x30);
  return v128.or(nib, top);
}

/**
 * Q3_K's run g of 16 three-bit quants (0..7) of half h at qs (the half's 16 bytes of 2-bit parts)
 * and hm (the 16 bytes of high bits, shifted right by 4h), as u8 lanes.
 */
// @ts-ignore: decorator
@inline export function q3Quants(qs: v128, hm: v128, g: i32): v128 {
  const low = g == 0 ? v128.and(qs, i8x16.splat(3)) : shrBytes(qs, 2 * g, 3);
  let top: v128;
  if (g < 2) top = shlBytes(hm, 2 - g, 4);
  else if (g == 2) top = v128.and(hm, i8x16.splat(4));
  else top = shrBytes(hm, 1, 4);
  return v128.or(low, top);
}

/** Q3_K's 6-bit scale j (0..15) of the 12 packed bytes at p, minus 32 (as scalesQ3K's lane j). */
// @ts-ignore: decorator
@inline function scaleQ3K(p: usize, j: i32): i32 {
  const low = (<i32>load<u8>(p + <usize>(j & 7)) >> (j < 8 ? 0 : 4)) & 15;
  return (low | (((<i32>load<u8>(p + 8 + <usize>(j & 3)) >> (2 * (j >> 2))) & 3) << 4)) - 32;
}

/**
 * Q3_K's sixteen 6-bit scales minus 32 (int8 lanes 0..15, one per run of 16 values) from the 12
 * bytes at p: scale j takes its low four bits from byte j mod 8 (low nibble for j < 8) and its top
 * two from bits 2·(j div 4) of byte 8 + j mod 4.
 */
// @ts-ignore: decorator
@inline export function scalesQ3K(p: usize): v128 {
  const v = v128.load32_lane(p + 8, v128.load64_zero(p), 2);
  const a = i8x16.shuffle(v, v, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7);
  const low = v128.bitselect(v128.and(a, i8x16.splat(15)), shrBytes(a, 4, 15), i8x16(-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0));
  // the top bits: byte 8 + j mod 4 shifted right by 0, 2, 4 and 6 for j in 0..3, 4..7, 8..11 and 12..15
  const b = i8x16.shuffle(v, v, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11);
  const b01 = i8x16.shuffle(b, i16x8.shr_u(b, 2), 0, 1, 2, 3, 20, 21, 22, 23, 0, 0, 0, 0, 0, 0, 0, 0);
  const b23 = i8x16.shuffle(i16x8.shr_u(b, 4), i16x8.shr_u(b, 6), 0, 1, 2, 3, 20, 21, 22, 23, 0, 0, 0, 0, 0, 0, 0, 0);
  const top = shlBytes(i8x16.shuffle(b01, b23, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), 4, 0x30);
  return i8x16.sub(v128.or(low, top), i8x16.splat(32));
}

/** Q6_K's run g as q6Quants, minus 32, as int8. */
// @ts-ignore: decorator
@inline function q6Group(ql: usize, qh: usize, g: i32): v128 {
  return i8x16.sub(q6Quants(ql, qh, g), i8x16.splat(32));
}

/**
 * Σ_k x[k]·w[k] over one Q6_K row of K values, x as splitX16's parts xq, xl and scales xs. The
 * quants times their scales are at most 32·128 = 4096; a lane sums 16 products of at most
 * 4096·32767 before each conversion: 2147418112, inside i32.
 */
export function dotRowQ6K(xq: usize, xl: usize, xs: usize, w: usize, K: i32): f32 {
  let acc = f32x4.splat(0);
  for (let b = 0; b < K; b += 256) {
    const ds: f32 = half(<u32>load<u16>(w + 208)) * load<f32>(xs + <usize>(b >> 8) * 4);
    const dh = f32x4.splat(ds), dl = f32x4.splat(ds / LO);
    for (let hf = 0; hf < 2; hf++) {
      for (let l0 = 0; l0 < 32; l0 += 16) {
        const ql = w + <usize>(64 * hf + l0), qh = w + 128 + <usize>(32 * hf + l0), sc = w + 192 + <usize>(8 * hf + (l0 >> 4));
        let h = i32x4.splat(0), l = h;
        for (let g = 0; g < 4; g++) {
          const q = q6Group(ql, qh, g), s = i16x8.splat(<i16>load<i8>(sc + <usize>(2 * g)));
          const w0 = i16x8.mul(i16x8.extend_low_i8x16_s(q), s), w1 = i16x8.mul(i16x8.extend_high_i8x16_s(q), s);
          const o = <usize>(b + 128 * hf + 32 * g + l0) * 2;
          h = i32x4.add(h, dot16(w0, w1, xq + o));
          l = i32x4.add(l, dot16(w0, w1, xl + o));
        }
        acc = fma(f32x4.convert_i32x4_s(l), dl, fma(f32x4.convert_i32x4_s(h), dh, acc));
      }
    }
    w += Q6K_BYTES;
  }
  return hsum(acc);
}

/** Stores a·q − b for the 16 int8 lanes of q at dst (as llama.cpp: the product rounded, then the difference). */
// @ts-ignore: decorator
@inline function store16(dst: usize, q: v128, a: f32, b: f32): void {
  const av = f32x4.splat(a), bv = f32x4.splat(b);
  const w0 = i16x8.extend_low_i8x16_s(q), w1 = i16x8.extend_high_i8x16_s(q);
  v128.store(dst, f32x4.sub(f32x4.mul(av, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w0))), bv));
  v128.store(dst, f32x4.sub(f32x4.mul(av, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w0))), bv), 16);
  v128.store(dst, f32x4.sub(f32x4.mul(av, f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w1))), bv), 32);
  v128.store(dst, f32x4.sub(f32x4.mul(av, f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w1))), bv), 48);
}

/** dst[256·blocks] f32 = the Q4_K super-blocks at w: (d·scale)·q − dmin·min, each product rounded to f32. */
export function dequantizeQ4K(dst: usize, w: usize, blocks: usize): void {
  for (let b: usize = 0; b < blocks; b++) {
    const d = half(<u32>load<u16>(w)), dmin = half(<u32>load<u16>(w + 2)), sc = w + 4;
    for (let c = 0; c < 4; c++) {
      const v0 = v128.load(w + 16 + <usize>c * 32), v1 = v128.load(w + 32 + <usize>c * 32), o = dst + <usize>c * 256;
      const d1: f32 = d * <f32>scaleK4(sc, 2 * c), m1: f32 = dmin * <f32>minK4(sc, 2 * c);
      const d2: f32 = d * <f32>scaleK4(sc, 2 * c + 1), m2: f32 = dmin * <f32>minK4(sc, 2 * c + 1);
      store16(o, v128.and(v0, i8x16.splat(15)), d1, m1);
      store16(o + 64, v128.and(v1, i8x16.splat(15)), d1, m1);
      store16(o + 128, shrBytes(v0, 4, 15), d2, m2);
      store16(o + 192, shrBytes(v1, 4, 15), d2, m2);
    }
    dst += 1024;
    w += Q4K_BYTES;
  }
}

/** dst[256·blocks] f32 = the Q5_K super-blocks at w: (d·scale)·q − dmin·min, as Q4_K's with the fifth bits. */
export function dequantizeQ5K(dst: usize, w: usize, blocks: usize): void {
  for (let b: usize = 0; b < blocks; b++) {
    const d = half(<u32>load<u16>(w)), dmin = half(<u32>load<u16>(w + 2)), sc = w + 4;
    // the fifth bits of chunk c's two runs, bits 2c and 2c + 1, shifted down to bits 0 and 1
    let h0 = v128.load(w + 16), h1 = v128.load(w + 32);
    for (let c = 0; c < 4; c++) {
      const v0 = v128.load(w + 48 + <usize>c * 32), v1 = v128.load(w + 64 + <usize>c * 32), o = dst + <usize>c * 256;
      const d1: f32 = d * <f32>scaleK4(sc, 2 * c), m1: f32 = dmin * <f32>minK4(sc, 2 * c);
      const d2: f32 = d * <f32>scaleK4(sc, 2 * c + 1), m2: f32 = dmin * <f32>minK4(sc, 2 * c + 1);
      store16(o, v128.or(v128.and(v0, i8x16.splat(15)), shlBytes(h0, 4, 16)), d1, m1);
      store16(o + 64, v128.or(v128.and(v1, i8x16.splat(15)), shlBytes(h1, 4, 16)), d1, m1);
      store16(o + 128, v128.or(shrBytes(v0, 4, 15), shlBytes(h0, 3, 16)), d2, m2);
      store16(o + 192, v128.or(shrBytes(v1, 4, 15), shlBytes(h1, 3, 16)), d2, m2);
      h0 = i16x8.shr_u(h0, 2);
      h1 = i16x8.shr_u(h1, 2);
    }
    dst += 1024;
    w += Q5K_BYTES;
  }
}

/** dst[256·blocks] f32 = the Q3_K super-blocks at w: (d·(scale − 32))·(q − 4). */
export function dequantizeQ3K(dst: usize, w: usize, blocks: usize): void {
  for (let b: usize = 0; b < blocks; b++) {
    const d = half(<u32>load<u16>(w + 108)), four = i8x16.splat(4);
    for (let hf = 0; hf < 2; hf++) {
      for (let l0 = 0; l0 < 32; l0 += 16) {
        const qs = v128.load(w + 32 + <usize>(32 * hf + l0)), hm = i16x8.shr_u(v128.load(w + <usize>l0), 4 * hf), run = 8 * hf + (l0 >> 4);
        const o = dst + <usize>(128 * hf + l0) * 4;
        store16(o, i8x16.sub(q3Quants(qs, hm, 0), four), d * <f32>scaleQ3K(w + 96, run), 0);
        store16(o + 128, i8x16.sub(q3Quants(qs, hm, 1), four), d * <f32>scaleQ3K(w + 96, run + 2), 0);
        store16(o + 256, i8x16.sub(q3Quants(qs, hm, 2), four), d * <f32>scaleQ3K(w + 96, run + 4), 0);
        store16(o + 384, i8x16.sub(q3Quants(qs, hm, 3), four), d * <f32>scaleQ3K(w + 96, run + 6), 0);
      }
    }
    dst += 1024;
    w += Q3K_BYTES;
  }
}

/** dst[256·blocks] f32 = the Q6_K super-blocks at w: (d·scale)·(q − 32). */
export function dequantizeQ6K(dst: usize, w: usize, blocks: usize): void {
  for (let b: usize = 0; b < blocks; b++) {
    const d = half(<u32>load<u16>(w + 208));
    for (let hf = 0; hf < 2; hf++) {
      for (let l0 = 0; l0 < 32; l0 += 16) {
        const ql = w + <usize>(64 * hf + l0), qh = w + 128 + <usize>(32 * hf + l0), sc = w + 192 + <usize>(8 * hf + (l0 >> 4));
        for (let g = 0; g < 4; g++)
          store16(dst + <usize>(128 * hf + 32 * g + l0) * 4, q6Group(ql, qh, g), d * <f32>load<i8>(sc + <usize>(2 * g)), 0);
      }
    }
    dst += 1024;
    w += Q6K_BYTES;
  }
}
