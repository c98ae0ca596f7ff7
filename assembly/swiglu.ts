// SwiGLU gate of the Llama MLP: h = silu(g)·u, silu(g) = g·sigmoid(g).

import { exp4 } from './simd';

// @ts-ignore: decorator
@inline function sigmoid4(g: v128): v128 {
  return f32x4.div(f32x4.splat(1.0), f32x4.add(f32x4.splat(1.0), exp4(f32x4.neg(g))));
}

/** h[n] = silu(g)·u. */
export function swiglu_fwd(h: usize, g: usize, u: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4, gv = v128.load(g + o);
    v128.store(h + o, f32x4.mul(f32x4.mul(gv, sigmoid4(gv)), v128.load(u + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4, gv = f32x4.splat(load<f32>(g + o));
    store<f32>(h + o, f32x4.extract_lane(f32x4.mul(gv, sigmoid4(gv)), 0) * load<f32>(u + o));
  }
}

/** dg = dh·u·σ(g)·(1 + g·(1 − σ(g))), du = dh·silu(g). dg may alias g, du may alias u. */
export function swiglu_bwd(dg: usize, du: usize, dh: usize, g: usize, u: usize, n: i32): void {
  let i = 0;
  const one = f32x4.splat(1.0);
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i * 4;
    const gv = v128.load(g + o), uv = v128.load(u + o), d = v128.load(dh + o);
    const s = sigmoid4(gv);
    v128.store(du + o, f32x4.mul(d, f32x4.mul(gv, s)));
    v128.store(dg + o, f32x4.mul(f32x4.mul(d, uv), f32x4.mul(s, f32x4.add(one, f32x4.mul(gv, f32x4.sub(one, s))))));
  }
  for (; i < n; i++) {
    const o = <usize>i * 4;
    const gs = load<f32>(g + o), us = load<f32>(u + o), d = load<f32>(dh + o);
    const s = f32x4.extract_lane(sigmoid4(f32x4.splat(gs)), 0);
    store<f32>(du + o, d * gs * s);
    store<f32>(dg + o, d * us * s * (1.0 + gs * (1.0 - s)));
  }
}
