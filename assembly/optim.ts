// Optimizer step and the vector helpers around it (gradient norm, clipping, residual adds).

import { fma, hsum } from './simd';

/**
 * AdamW over n parameters, in place: m = b1·m + (1−b1)·g, v = b2·v + (1−b2)·g²,
 * p −= lr·((m/bc1)/(sqrt(v/bc2) + eps) + wd·p). bc1 = bc2 = 1 gives MindSpore's AdamWeightDecay
 * (no bias correction); bc = 1 − b^t gives PyTorch's AdamW.
 */
export function adamw(p: usize, g: usize, m: usize, v: usize, n: i32, lr: f32, b1: f32, b2: f32, eps: f32, wd: f32, bc1: f32, bc2: f32): void {
  const vb1 = f32x4.splat(b1), vb2 = f32x4.splat(b2), c1 = f32x4.splat(1.0 - b1), c2 = f32x4.splat(1.0 - b2);
  const ib1 = f32x4.splat(1.0 / bc1), ib2 = f32x4.splat(1.0 / bc2), ve = f32x4.splat(eps), vwd = f32x4.splat(wd), vlr = f32x4.splat(lr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    const gv = v128.load(g + o), pv = v128.load(p + o);
    const mv = f32x4.add(f32x4.mul(vb1, v128.load(m + o)), f32x4.mul(c1, gv));
    const vv = f32x4.add(f32x4.mul(vb2, v128.load(v + o)), f32x4.mul(c2, f32x4.mul(gv, gv)));
    v128.store(m + o, mv); v128.store(v + o, vv);
    const upd = f32x4.add(f32x4.div(f32x4.mul(mv, ib1), f32x4.add(f32x4.sqrt(f32x4.mul(vv, ib2)), ve)), f32x4.mul(vwd, pv));
    v128.store(p + o, f32x4.sub(pv, f32x4.mul(vlr, upd)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const gv = load<f32>(g + o), pv = load<f32>(p + o);
    const mv = b1 * load<f32>(m + o) + (1.0 - b1) * gv;
    const vv = b2 * load<f32>(v + o) + (1.0 - b2) * gv * gv;
    store<f32>(m + o, mv); store<f32>(v + o, vv);
    store<f32>(p + o, pv - lr * ((mv / bc1) / (Mathf.sqrt(vv / bc2) + eps) + wd * pv));
  }
}

/** Σ x² over n floats, summed in f32 blocks of 1024 and across blocks in f64. */
export function sumsq(x: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let i0 = 0; i0 < n; i0 += 1024) {
    const end = min(n, i0 + 1024);
    let a0 = f32x4.splat(0), a1 = a0;
    let i = i0;
    for (; i + 8 <= end; i += 8) {
      const v0 = v128.load(x + <usize>i * 4), v1 = v128.load(x + <usize>i * 4, 16);
      a0 = fma(v0, v0, a0); a1 = fma(v1, v1, a1);
    }
    let s: f64 = <f64>hsum(f32x4.add(a0, a1));
    for (; i < end; i++) { const v = <f64>load<f32>(x + <usize>i * 4); s += v * v; }
    total += s;
  }
  return total;
}

/** x[n] *= s. */
export function scale(x: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(x + <usize>i * 4, f32x4.mul(v128.load(x + <usize>i * 4), sv));
  for (; i < n; i++) store<f32>(x + <usize>i * 4, load<f32>(x + <usize>i * 4) * s);
}

/** y[n] += a·x. */
export function axpy(y: usize, x: usize, n: i32, a: f32): void {
  const av = f32x4.splat(a);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    v128.store(y + o, fma(av, v128.load(x + o), v128.load(y + o)));
  }
  for (; i < n; i++) store<f32>(y + <usize>i * 4, load<f32>(y + <usize>i * 4) + a * load<f32>(x + <usize>i * 4));
}

/** y[n] = a∘b (y may alias a or b). */
export function vmul(y: usize, a: usize, b: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    v128.store(y + o, f32x4.mul(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) store<f32>(y + <usize>i * 4, load<f32>(a + <usize>i * 4) * load<f32>(b + <usize>i * 4));
}
