// Cross-entropy over logits with ignored rows (target < 0).

import { exp4, hmax, hsum } from './simd';

/** Natural log-sum-exp of one row of n logits. */
function rowLse(x: usize, n: i32): f32 {
  let mv = f32x4.splat(-Infinity);
  let j = 0;
  for (; j + 4 <= n; j += 4) mv = f32x4.max(mv, v128.load(x + <usize>j * 4));
  let m = hmax(mv);
  for (; j < n; j++) m = max<f32>(m, load<f32>(x + <usize>j * 4));
  if (m == -Infinity) return m;
  const mm = f32x4.splat(m);
  let acc = f32x4.splat(0);
  j = 0;
  for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, exp4(f32x4.sub(v128.load(x + <usize>j * 4), mm)));
  let s = hsum(acc);
  for (; j < n; j++) s += f32x4.extract_lane(exp4(f32x4.splat(load<f32>(x + <usize>j * 4) - m)), 0);
  return m + <f32>Math.log(<f64>s);
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
 * dlogits[rows,V] = (softmax(logits) − onehot(target))·scale, zero rows where target < 0.
 * dlogits may alias logits.
 */
export function ce_bwd(dlogits: usize, logits: usize, lse: usize, targets: usize, rows: i32, V: i32, scale: f32): void {
  const sv = f32x4.splat(scale);
  for (let r = 0; r < rows; r++) {
    const off = <usize>r * <usize>V * 4;
    const x = logits + off, d = dlogits + off;
    const t = load<i32>(targets + <usize>r * 4);
    if (t < 0) { memory.fill(d, 0, <usize>V * 4); continue; }
    const lv = f32x4.splat(load<f32>(lse + <usize>r * 4));
    let j = 0;
    for (; j + 4 <= V; j += 4) {
      const o = <usize>j * 4;
      v128.store(d + o, f32x4.mul(exp4(f32x4.sub(v128.load(x + o), lv)), sv));
    }
    for (; j < V; j++) {
      const o = <usize>j * 4;
      store<f32>(d + o, f32x4.extract_lane(f32x4.mul(exp4(f32x4.sub(f32x4.splat(load<f32>(x + o)), lv)), sv), 0));
    }
    const to = d + <usize>t * 4;
    store<f32>(to, load<f32>(to) - scale);
  }
}
