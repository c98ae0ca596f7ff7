// Storage conversions for frozen weights (int8 rows with an f32 scale, bf16, the f16 scales of
// llama.cpp's blocks) and the int8 rounding of generation's activations (qact.ts, kqact.ts).

/**
 * q[rows,cols] int8 and scale[rows]: scale = max|w|/127 (0 for an all-zero row),
 * q = round-half-even(w/scale) clamped to ±127.
 */
export function quantize_rows_i8(q: usize, scale: usize, w: usize, rows: i32, cols: i32): void {
  for (let r = 0; r < rows; r++) {
    const wr = w + <usize>r * <usize>cols * 4, qr = q + <usize>r * <usize>cols;
    let mv = f32x4.splat(0);
    let j = 0;
    for (; j + 4 <= cols; j += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(wr + <usize>j * 4)));
    let m = max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; j < cols; j++) m = max<f32>(m, Mathf.abs(load<f32>(wr + <usize>j * 4)));
    const s: f32 = m / 127.0;
    store<f32>(scale + <usize>r * 4, s);
    if (s == 0) { memory.fill(qr, 0, <usize>cols); continue; }
    const sv = f32x4.splat(s), lim = f32x4.splat(127.0);
    j = 0;
    for (; j + 4 <= cols; j += 4) {
      const v = f32x4.min(lim, f32x4.max(f32x4.neg(lim), f32x4.nearest(f32x4.div(v128.load(wr + <usize>j * 4), sv))));
      const i = i32x4.trunc_sat_f32x4_s(v);
      store<u32>(qr + <usize>j, i32x4.extract_lane(i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(i, i), i16x8.splat(0)), 0));
    }
    for (; j < cols; j++) {
      const v = min<f32>(127.0, max<f32>(-127.0, nearest<f32>(load<f32>(wr + <usize>j * 4) / s)));
      store<i8>(qr + <usize>j, <i8>(<i32>v));
    }
  }
}

/** dst[n] bf16 = src f32 rounded to nearest even; NaN becomes a quiet NaN with its sign. */
export function f32_to_bf16(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) {
    const bits = load<u32>(src + <usize>i * 4);
    let h: u32;
    if ((bits & 0x7fffffff) > 0x7f800000) h = (bits >> 16 & 0x8000) | 0x7fc0;
    else h = (bits + 0x7fff + (bits >> 16 & 1)) >> 16;
    store<u16>(dst + <usize>i * 2, <u16>h);
  }
}

/** dst[n] f32 = src bf16. */
export function bf16_to_f32(dst: usize, src: usize, n: i32): void {
  for (let i = 0; i < n; i++) store<u32>(dst + <usize>i * 4, <u32>load<u16>(src + <usize>i * 2) << 16);
}

/** IEEE half-precision bits to f32. */
// @ts-ignore: decorator
@inline export function half(h: u32): f32 {
  const s = (h & 0x8000) << 16, e = (h >> 10) & 0x1f, m = h & 0x3ff;
  if (e == 0) return reinterpret<f32>(s | reinterpret<u32>(<f32>m * 5.9604644775390625e-8));
  if (e == 31) return reinterpret<f32>(s | 0x7f800000 | (m << 13));
  return reinterpret<f32>(s | ((e + 112) << 23) | (m << 13));
}

/**
 * Rounds the 16 f32 at p times inv (127 over the block's largest magnitude) to int8 at dst,
 * nearest with ties to even; returns their sum.
 */
// @ts-ignore: decorator
@inline export function roundInt8x16(p: usize, inv: v128, dst: usize): i32 {
  const q0 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p), inv)));
  const q1 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 16), inv)));
  const q2 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 32), inv)));
  const q3 = i32x4.trunc_sat_f32x4_s(f32x4.nearest(f32x4.mul(v128.load(p, 48), inv)));
  v128.store(dst, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(q0, q1), i16x8.narrow_i32x4_s(q2, q3)));
  const s = i32x4.add(i32x4.add(q0, q1), i32x4.add(q2, q3));
  return i32x4.extract_lane(s, 0) + i32x4.extract_lane(s, 1) + i32x4.extract_lane(s, 2) + i32x4.extract_lane(s, 3);
}

/** The largest |x| of the 32·runs f32 at p. */
// @ts-ignore: decorator
@inline export function absMax32(p: usize, runs: i32): f32 {
  let mv = f32x4.splat(0);
  for (let r = 0; r < runs; r++) {
    const a = p + <usize>r * 128;
    mv = f32x4.max(mv, f32x4.max(f32x4.max(f32x4.max(f32x4.abs(v128.load(a)), f32x4.abs(v128.load(a, 16))), f32x4.max(f32x4.abs(v128.load(a, 32)), f32x4.abs(v128.load(a, 48)))),
      f32x4.max(f32x4.max(f32x4.abs(v128.load(a, 64)), f32x4.abs(v128.load(a, 80))), f32x4.max(f32x4.abs(v128.load(a, 96)), f32x4.abs(v128.load(a, 112))))));
  }
  mv = f32x4.max(mv, i32x4.shuffle(mv, mv, 2, 3, 0, 1));
  return max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1));
}

/** IEEE half-precision bits of an f32, nearest with ties to even (subnormals and infinities; NaN stays a quiet NaN). */
// @ts-ignore: decorator
@inline export function halfBits(v: f32): u32 {
  const u = reinterpret<u32>(v), sign = (u >> 16) & 0x8000, exp = (u >> 23) & 0xff, mant = u & 0x7fffff;
  if (exp == 0xff) return sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >> 13) : 0);
  const e = <i32>exp - 112;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    const m = mant | 0x800000, shift = <u32>(14 - e), half: u32 = 1 << (shift - 1), rest = m & ((half << 1) - 1);
    let r = m >> shift;
    if (rest > half || (rest == half && (r & 1) != 0)) r++;
    return sign | r;
  }
  let r = (<u32>e << 10) | (mant >> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest == 0x1000 && (r & 1) != 0)) r++; // a carry into the exponent is still the right rounding
  return sign | r;
}
