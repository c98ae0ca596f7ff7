// Reference loops for the benchmark: the register-only FMA peak of this build, and a plain copy.

import { fma } from './simd';

/** Runs iters rounds of 10 independent 128-bit multiply-adds (80 flops a round). */
export function fma_peak(iters: i32): f32 {
  let a0 = f32x4.splat(1.0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, a9 = a0;
  const x = f32x4.splat(0.9999), y = f32x4.splat(0.00001);
  for (let i = 0; i < iters; i++) {
    a0 = fma(a0, x, y); a1 = fma(a1, x, y); a2 = fma(a2, x, y); a3 = fma(a3, x, y); a4 = fma(a4, x, y);
    a5 = fma(a5, x, y); a6 = fma(a6, x, y); a7 = fma(a7, x, y); a8 = fma(a8, x, y); a9 = fma(a9, x, y);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(f32x4.add(a6, a7), f32x4.add(a8, a9))));
  return f32x4.extract_lane(s, 0);
}

/** Copies bytes (a multiple of 64) from src to dst with 128-bit loads and stores. */
export function copy_bytes(dst: usize, src: usize, bytes: usize): void {
  for (let i: usize = 0; i < bytes; i += 64) {
    v128.store(dst + i, v128.load(src + i)); v128.store(dst + i, v128.load(src + i, 16), 16);
    v128.store(dst + i, v128.load(src + i, 32), 32); v128.store(dst + i, v128.load(src + i, 48), 48);
  }
}
