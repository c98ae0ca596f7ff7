// RMSNorm (Hugging Face LlamaRMSNorm): y = x · rstd · w with rstd = 1/sqrt(mean(x²) + eps).

import { fma, hsum } from './simd';

/** Σ x² over n floats. */
function sumSq(x: usize, n: i32): f32 {
  let a0 = f32x4.splat(0), a1 = a0;
  let j = 0;
  for (; j + 8 <= n; j += 8) {
    const v0 = v128.load(x + <usize>j * 4), v1 = v128.load(x + <usize>j * 4, 16);
    a0 = fma(v0, v0, a0); a1 = fma(v1, v1, a1);
  }
  let s = hsum(f32x4.add(a0, a1));
  for (; j < n; j++) { const v = load<f32>(x + <usize>j * 4); s += v * v; }
  return s;
}

/** y[rows,dim] = x·rstd·w, rstd[rows] saved for the backward pass. */
export function rmsnorm_fwd(y: usize, rstd: usize, x: usize, w: usize, rows: i32, dim: i32, eps: f32): void {
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * <usize>dim * 4, yr = y + <usize>r * <usize>dim * 4;
    const rs: f32 = 1.0 / Mathf.sqrt(sumSq(xr, dim) / <f32>dim + eps);
    store<f32>(rstd + <usize>r * 4, rs);
    const rv = f32x4.splat(rs);
    let j = 0;
    for (; j + 4 <= dim; j += 4) {
      const o = <usize>j * 4;
      v128.store(yr + o, f32x4.mul(f32x4.mul(v128.load(xr + o), rv), v128.load(w + o)));
    }
    for (; j < dim; j++) {
      const o = <usize>j * 4;
      store<f32>(yr + o, load<f32>(xr + o) * rs * load<f32>(w + o));
    }
  }
}

/**
 * dx[rows,dim] = rstd·(w∘dy) − x·rstd³·Σ(w∘dy∘x)/dim; dw[dim] (+)= Σ_rows dy∘x·rstd.
 * dx may alias dy.
 */
export function rmsnorm_bwd(dx: usize, dw: usize, dy: usize, x: usize, w: usize, rstd: usize, rows: i32, dim: i32, accumulate: bool): void {
  if (!accumulate) memory.fill(dw, 0, <usize>dim * 4);
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>dim * 4;
    const xr = x + off, dyr = dy + off, dxr = dx + off;
    const rs = load<f32>(rstd + <usize>r * 4);
    // dot = Σ (w∘dy)∘x, and dw += dy∘x·rstd
    let acc = f32x4.splat(0);
    const rv = f32x4.splat(rs);
    let j = 0;
    for (; j + 4 <= dim; j += 4) {
      const o = <usize>j * 4;
      const xv = v128.load(xr + o), gv = v128.load(dyr + o);
      acc = fma(f32x4.mul(gv, v128.load(w + o)), xv, acc);
      v128.store(dw + o, fma(f32x4.mul(gv, xv), rv, v128.load(dw + o)));
    }
    let dot = hsum(acc);
    for (; j < dim; j++) {
      const o = <usize>j * 4;
      const xv = load<f32>(xr + o), gv = load<f32>(dyr + o);
      dot += gv * load<f32>(w + o) * xv;
      store<f32>(dw + o, load<f32>(dw + o) + gv * xv * rs);
    }
    const c: f32 = rs * rs * rs * dot / <f32>dim;
    const cv = f32x4.splat(c);
    j = 0;
    for (; j + 4 <= dim; j += 4) {
      const o = <usize>j * 4;
      const g = f32x4.mul(v128.load(dyr + o), v128.load(w + o));
      v128.store(dxr + o, f32x4.sub(f32x4.mul(g, rv), f32x4.mul(v128.load(xr + o), cv)));
    }
    for (; j < dim; j++) {
      const o = <usize>j * 4;
      store<f32>(dxr + o, load<f32>(dyr + o) * load<f32>(w + o) * rs - load<f32>(xr + o) * c);
    }
  }
}
