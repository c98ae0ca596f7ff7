// Token embeddings: gather rows of the table, scatter-add gradients back.

import { WT_BF16, WT_F32 } from './gemm';

/** out[n,dim] = table[ids[i]] (table stored f32, bf16, or int8 with scale[vocab]). */
export function embedding_gather(out: usize, table: usize, scale: usize, ids: usize, n: i32, dim: i32, wt: i32): void {
  for (let i = 0; i < n; i++) {
    const id = <usize>load<i32>(ids + <usize>i * 4);
    const o = out + <usize>i * <usize>dim * 4;
    if (wt == WT_F32) {
      memory.copy(o, table + id * <usize>dim * 4, <usize>dim * 4);
      continue;
    }
    let j = 0;
    if (wt == WT_BF16) {
      const src = table + id * <usize>dim * 2;
      for (; j + 8 <= dim; j += 8) {
        const v = v128.load(src + <usize>j * 2);
        v128.store(o + <usize>j * 4, i32x4.shl(i32x4.extend_low_i16x8_u(v), 16));
        v128.store(o + <usize>j * 4, i32x4.shl(i32x4.extend_high_i16x8_u(v), 16), 16);
      }
      for (; j < dim; j++) store<f32>(o + <usize>j * 4, reinterpret<f32>(<u32>load<u16>(src + <usize>j * 2) << 16));
    } else {
      const src = table + id * <usize>dim, s = load<f32>(scale + id * 4), sv = f32x4.splat(s);
      for (; j + 4 <= dim; j += 4) {
        const q = i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(src + <usize>j)));
        v128.store(o + <usize>j * 4, f32x4.mul(f32x4.convert_i32x4_s(q), sv));
      }
      for (; j < dim; j++) store<f32>(o + <usize>j * 4, <f32>load<i8>(src + <usize>j) * s);
    }
  }
}

/** dtable[ids[i]] += dout[i] for i < n (repeated ids accumulate). */
export function embedding_scatter_add(dtable: usize, dout: usize, ids: usize, n: i32, dim: i32): void {
  for (let i = 0; i < n; i++) {
    const d = dtable + <usize>load<i32>(ids + <usize>i * 4) * <usize>dim * 4;
    const g = dout + <usize>i * <usize>dim * 4;
    let j = 0;
    for (; j + 4 <= dim; j += 4) {
      const o = <usize>j * 4;
      v128.store(d + o, f32x4.add(v128.load(d + o), v128.load(g + o)));
    }
    for (; j < dim; j++) {
      const o = <usize>j * 4;
      store<f32>(d + o, load<f32>(d + o) + load<f32>(g + o));
    }
  }
}
