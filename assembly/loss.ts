// Cross-entropy over logits with ignored rows (target < 0).

import { exp4neg, hmax, hsum } from './simd';

/** Largest of n floats. */
function rowMax(x: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= n; j += 4) mv = f32x4.max(mv, v128.load(x + <usize>j * 4));
  let m = hmax(mv);
  for (; j < n; j++) m = max<f32>(m, load<f32>(x + <usize>j * 4));
  return m;
}

/** Σ e^(x − m) over n floats; with `out` ≠ 0 each term is also stored there. */
function rowExpSum(out: usize, x: usize, n: i32, m: f32): f32 {
  const mm = f32x4.splat(m);
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const e = exp4neg(f32x4.sub(v128.load(x + <usize>j * 4), mm));
    if (out) v128.store(out + <usize>j * 4, e);
    acc = f32x4.add(acc, e);
  }
  let s = hsum(acc);
  for (; j < n; j++) {
    const e = f32x4.extract_lane(exp4neg(f32x4.splat(load<f32>(x + <usize>j * 4) - m)), 0);
    if (out) store<f32>(out + <usize>j * 4, e);
    s += e;
  }
  return s;
}

/** Natural log-sum-exp of one row of n logits. */
function rowLse(x: usize, n: i32): f32 {
  const m = rowMax(x, n);
  if (m == -Infinity) return m;
  return m + <f32>Math.log(<f64>rowExpSum(0, x, n, m));
}

/** loss[rows] = lse − logits[target] (0 where target < 0) and lse[rows], over logits[rows,V]. */
export function ce_fwd(loss: usize, lse: usize, logits: usize, targets: usize, rows: i32, V: i32): void {
  for (let r = 0; r < rows; r++) {
    const x = logits + <usize>r * <usize>V * 4;
    const l = rowLse(x, V);
    store<f32>(lse + <usize>r * 4, l);
    const t = load<i32>(targets + <usize>r * 4);
    store<f32>(loss + <usize>r * 4, t < 0 ? 0 : l - load<f32>(x + <usize>t * 4));
  }
}

/**
 * Forward and backward at once, in place: loss[rows] and lse[rows] as ce_fwd computes them, and
 * logits[rows,V] overwritten by (softmax − onehot(target))·scale (zero rows where target < 0).
 * Each row is read while it sits in cache and e^x is computed once per logit.
 */
export function ce_fwd_bwd(loss: usize, lse: usize, logits: usize, targets: usize, rows: i32, V: i32, scale: f32): void {
  for (let r = 0; r < rows; r++) {
    const x = logits + <usize>r * <usize>V * 4;
    const t = load<i32>(targets + <usize>r * 4);
    const m = rowMax(x, V);
    const picked = t < 0 ? <f32>0 : load<f32>(x + <usize>t * 4);
    const s = rowExpSum(x, x, V, m); // x now holds e^(x − m)
    const l = m + <f32>Math.log(<f64>s);
    store<f32>(lse + <usize>r * 4, l);
    store<f32>(loss + <usize>r * 4, t < 0 ? 0 : l - picked);
    if (t < 0) { memory.fill(x, 0, <usize>V * 4); continue; }
    const k: f32 = scale / s, kv = f32x4.splat(k);
    let j = 0;
    for (; j + 4 <= V; j += 4) v128.store(x + <usize>j * 4, f32x4.mul(v128.load(x + <usize>j * 4), kv));
    for (; j < V; j++) store<f32>(x + <usize>j * 4, load<f32>(x + <usize>j * 4) * k);
    const to = x + <usize>t * 4;
    store<f32>(to, load<f32>(to) - scale);
  }
}
