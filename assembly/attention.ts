// Causal self-attention with grouped-query heads, flash-attention style: blocks of 64 queries
// against blocks of 64 keys, an online softmax (running max and sum per row), and the row
// log-sum-exp kept for the backward pass, so no S×S matrix is ever held. The block products go
// through the GEMM driver. Layouts: q, o [B,S,H,D]; k, v [B,S,KVH,D]; lse [B,H,S]; head h reads
// kv head h / (H/KVH); scores are scaled by 1/sqrt(D). Each kernel computes the query heads
// [h0, h1) only, so threads can share one call's heads; each head's numbers do not depend on the range.

import { gemm, WT_F32 } from './gemm';
import { exp4neg, fma, hmax, hsum } from './simd';
import { ATTN_KB, ATTN_QB, attnScratch, packB } from './workspace';

const QB = ATTN_QB, KB = ATTN_KB;

/** Sets row entries [from, to) of a score tile to −inf. */
function maskRow(row: usize, from: i32, to: i32): void {
  for (let j = from; j < to; j++) store<f32>(row + <usize>j * 4, -Infinity);
}

/** o and lse of heads [h0, h1) from q, k, v (see the file comment for layouts). */
export function attention_fwd(o: usize, lse: usize, q: usize, k: usize, v: usize, B: i32, S: i32, H: i32, KVH: i32, D: i32, h0: i32, h1: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>D);
  const group = H / KVH;
  const qs = <usize>(H * D), ks = <usize>(KVH * D);
  const sTile = attnScratch();
  const oAcc = sTile + <usize>(2 * QB * KB) * 4;
  const mRow = oAcc + <usize>(QB * D) * 4, lRow = mRow + <usize>QB * 4;
  const sv = f32x4.splat(scale);
  for (let b = 0; b < B; b++) {
    for (let h = h0; h < h1; h++) {
      const kvh = h / group;
      const qh = q + (<usize>b * <usize>S * qs + <usize>(h * D)) * 4;
      const oh = o + (<usize>b * <usize>S * qs + <usize>(h * D)) * 4;
      const kh = k + (<usize>b * <usize>S * ks + <usize>(kvh * D)) * 4;
      const vh = v + (<usize>b * <usize>S * ks + <usize>(kvh * D)) * 4;
      const lh = lse + <usize>(b * H + h) * <usize>S * 4;
      for (let i0 = 0; i0 < S; i0 += QB) {
        const qn = min(QB, S - i0);
        memory.fill(oAcc, 0, <usize>(qn * D) * 4);
        for (let r = 0; r < qn; r++) { store<f32>(mRow + <usize>r * 4, -Infinity); store<f32>(lRow + <usize>r * 4, 0); }
        for (let j0 = 0; j0 < i0 + qn; j0 += KB) {
          const kn = min(KB, i0 + qn - j0), kn4 = (kn + 3) & ~3;
          gemm(sTile, KB, qh + <usize>i0 * qs * 4, qs, 1, kh + <usize>j0 * ks * 4, 1, ks, WT_F32, 0, false, qn, kn, D, false);
          for (let r = 0; r < qn; r++) {
            const row = sTile + <usize>(r * KB) * 4;
            const valid = min(kn, i0 + r - j0 + 1);
            maskRow(row, max(valid, 0), kn4);
            if (valid <= 0) continue;
            let mv = f32x4.splat(-Infinity);
            for (let j = 0; j < kn4; j += 4) mv = f32x4.max(mv, v128.load(row + <usize>j * 4));
            const mOld = load<f32>(mRow + <usize>r * 4);
            const mNew = max<f32>(mOld, hmax(mv) * scale);
            const negM = f32x4.splat(-mNew);
            let acc = f32x4.splat(0);
            for (let j = 0; j < kn4; j += 4) {
              const p = exp4neg(fma(v128.load(row + <usize>j * 4), sv, negM));
              v128.store(row + <usize>j * 4, p);
              acc = f32x4.add(acc, p);
            }
            const corr = f32x4.extract_lane(exp4neg(f32x4.splat(mOld - mNew)), 0);
            store<f32>(lRow + <usize>r * 4, load<f32>(lRow + <usize>r * 4) * corr + hsum(acc));
            store<f32>(mRow + <usize>r * 4, mNew);
            if (corr != 1) scaleRow(oAcc + <usize>(r * D) * 4, D, corr);
          }
          gemm(oAcc, D, sTile, KB, 1, vh + <usize>j0 * ks * 4, ks, 1, WT_F32, 0, false, qn, D, kn, true);
        }
        for (let r = 0; r < qn; r++) {
          const l = load<f32>(lRow + <usize>r * 4);
          const orow = oh + <usize>(i0 + r) * qs * 4;
          memory.copy(orow, oAcc + <usize>(r * D) * 4, <usize>D * 4);
          scaleRow(orow, D, 1.0 / l);
          store<f32>(lh + <usize>(i0 + r) * 4, load<f32>(mRow + <usize>r * 4) + <f32>Math.log(<f64>l));
        }
      }
    }
  }
}

function scaleRow(x: usize, n: i32, s: f32): void {
  const sv = f32x4.splat(s);
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(x + <usize>j * 4, f32x4.mul(v128.load(x + <usize>j * 4), sv));
  for (; j < n; j++) store<f32>(x + <usize>j * 4, load<f32>(x + <usize>j * 4) * s);
}

function dotRow(a: usize, b: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= n; j += 4) acc = fma(v128.load(a + <usize>j * 4), v128.load(b + <usize>j * 4), acc);
  let s = hsum(acc);
  for (; j < n; j++) s += load<f32>(a + <usize>j * 4) * load<f32>(b + <usize>j * 4);
  return s;
}

/**
 * dq of heads [h0, h1) and dk, dv of the kv heads they read, from dout and the forward's q, k,
 * v, o, lse (flash-attention 2 backward: scores and probabilities recomputed per block; dk and
 * dv summed over the heads that share them, so [h0, h1) must hold whole groups of H/KVH heads).
 */
export function attention_bwd(dq: usize, dk: usize, dv: usize, dout: usize, q: usize, k: usize, v: usize, o: usize, lse: usize,
  B: i32, S: i32, H: i32, KVH: i32, D: i32, h0: i32, h1: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>D);
  const group = H / KVH;
  const qs = <usize>(H * D), ks = <usize>(KVH * D);
  const kv0 = h0 / group, kv1 = (h1 + group - 1) / group;
  for (let r: usize = 0; r < <usize>B * <usize>S; r++) {
    memory.fill(dq + (r * qs + <usize>(h0 * D)) * 4, 0, <usize>((h1 - h0) * D) * 4);
    memory.fill(dk + (r * ks + <usize>(kv0 * D)) * 4, 0, <usize>((kv1 - kv0) * D) * 4);
    memory.fill(dv + (r * ks + <usize>(kv0 * D)) * 4, 0, <usize>((kv1 - kv0) * D) * 4);
  }
  const pTile = attnScratch(), dpTile = pTile + <usize>(QB * KB) * 4;
  const diRow = dpTile + <usize>(QB * KB) * 4 + <usize>(QB * D) * 4;
  const sv = f32x4.splat(scale);
  for (let b = 0; b < B; b++) {
    for (let h = h0; h < h1; h++) {
      const kvh = h / group;
      const qoff = (<usize>b * <usize>S * qs + <usize>(h * D)) * 4, koff = (<usize>b * <usize>S * ks + <usize>(kvh * D)) * 4;
      const qh = q + qoff, oh = o + qoff, doh = dout + qoff, dqh = dq + qoff;
      const kh = k + koff, vh = v + koff, dkh = dk + koff, dvh = dv + koff;
      const lh = lse + <usize>(b * H + h) * <usize>S * 4;
      for (let i0 = 0; i0 < S; i0 += QB) {
        const qn = min(QB, S - i0);
        for (let r = 0; r < qn; r++) {
          const off = <usize>(i0 + r) * qs * 4;
          store<f32>(diRow + <usize>r * 4, dotRow(doh + off, oh + off, D));
        }
        for (let j0 = 0; j0 < i0 + qn; j0 += KB) {
          const kn = min(KB, i0 + qn - j0), kn4 = (kn + 3) & ~3;
          // P = exp(scale·Q·Kᵀ − lse), causal entries zero.
          gemm(pTile, KB, qh + <usize>i0 * qs * 4, qs, 1, kh + <usize>j0 * ks * 4, 1, ks, WT_F32, 0, false, qn, kn, D, false);
          for (let r = 0; r < qn; r++) {
            const row = pTile + <usize>(r * KB) * 4;
            const valid = min(kn, i0 + r - j0 + 1);
            maskRow(row, max(valid, 0), kn4);
            const negL = f32x4.splat(-load<f32>(lh + <usize>(i0 + r) * 4));
            for (let j = 0; j < kn4; j += 4) v128.store(row + <usize>j * 4, exp4neg(fma(v128.load(row + <usize>j * 4), sv, negL)));
          }
          // dV += Pᵀ·dO
          gemm(dvh + <usize>j0 * ks * 4, ks, pTile, 1, KB, doh + <usize>i0 * qs * 4, qs, 1, WT_F32, 0, false, kn, D, qn, true);
          // dP = dO·Vᵀ, then dS = P∘(dP − Di)·scale in its place.
          gemm(dpTile, KB, doh + <usize>i0 * qs * 4, qs, 1, vh + <usize>j0 * ks * 4, 1, ks, WT_F32, 0, false, qn, kn, D, false);
          for (let r = 0; r < qn; r++) {
            const prow = pTile + <usize>(r * KB) * 4, drow = dpTile + <usize>(r * KB) * 4;
            const di = f32x4.splat(load<f32>(diRow + <usize>r * 4));
            for (let j = 0; j < kn4; j += 4) {
              const o4 = <usize>j * 4;
              v128.store(drow + o4, f32x4.mul(f32x4.mul(v128.load(prow + o4), f32x4.sub(v128.load(drow + o4), di)), sv));
            }
          }
          // dQ += dS·K, dK += dSᵀ·Q
          gemm(dqh + <usize>i0 * qs * 4, qs, dpTile, KB, 1, kh + <usize>j0 * ks * 4, ks, 1, WT_F32, 0, false, qn, D, kn, true);
          gemm(dkh + <usize>j0 * ks * 4, ks, dpTile, 1, KB, qh + <usize>i0 * qs * 4, qs, 1, WT_F32, 0, false, kn, D, qn, true);
        }
      }
    }
  }
}

/**
 * One decoding step for heads [h0, h1): o[B,H,D] = softmax(scale·q·kᵀ)·v over the first T
 * positions of the caches kc, vc [B,Tmax,KVH,D]. Positions go 4 at a time: four scores in one
 * vector (one exponential each), and four rows of v added per pass over o.
 */
export function attention_decode(o: usize, q: usize, kc: usize, vc: usize, B: i32, H: i32, KVH: i32, D: i32, Tmax: i32, T: i32, h0: i32, h1: i32): void {
  const group = H / KVH, ks = <usize>(KVH * D);
  for (let b = 0; b < B; b++) {
    for (let h = h0; h < h1; h++) {
      const at = <usize>((b * H + h) * D) * 4, cache = (<usize>b * <usize>Tmax * ks + <usize>((h / group) * D)) * 4;
      decodeHead(o + at, q + at, kc + cache, vc + cache, ks * 4, D, T);
    }
  }
}

/** Bytes of one row of attention_decode_rows's table: int32 q, o, kc, vc and T (DECODE_ROW_INTS in src/runtime/kernels.ts). */
export const DECODE_ROW_BYTES: usize = 20;

/**
 * Decoding steps of many sequences at once (a served batch, each sequence with its own caches
 * and length): units [u0, u1) of rows × H heads, row r described at tab + r·DECODE_ROW_BYTES by
 * its query q[H,D], its output o[H,D], its caches kc, vc [·,KVH,D] and its T positions. Each
 * (row, head) takes attention_decode's operations, so a row's output has the bits of a call for
 * that row alone. Each T must lie within its row's caches, which the caller checks (the table
 * carries no capacities; BatchDecoder refuses a step past its slots' capacity before any write).
 */
export function attention_decode_rows(tab: usize, H: i32, KVH: i32, D: i32, u0: i32, u1: i32): void {
  const group = H / KVH, ks = <usize>(KVH * D);
  for (let u = u0; u < u1; u++) {
    const row = tab + <usize>(u / H) * DECODE_ROW_BYTES, h = u % H;
    const at = <usize>(h * D) * 4, cache = <usize>((h / group) * D) * 4;
    decodeHead(load<u32>(row, 4) + at, load<u32>(row) + at, load<u32>(row, 8) + cache, load<u32>(row, 12) + cache, ks * 4, D, load<i32>(row, 16));
  }
}

/** One head of a decoding step: ov[D] = softmax(q·kᵀ/√D)·v over T positions of k and v (rows stride bytes apart). */
// @ts-ignore: decorator
@inline function decodeHead(ov: usize, qv: usize, kb: usize, vb: usize, stride: usize, D: i32, T: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>D), sc = packB(), T4 = T & ~3;
  let mv = f32x4.splat(-Infinity);
  for (let j = 0; j < T4; j += 4) {
    const s = f32x4.mul(dot4(qv, kb + <usize>j * stride, stride, D), f32x4.splat(scale));
    v128.store(sc + <usize>j * 4, s);
    mv = f32x4.max(mv, s);
  }
  let m = hmax(mv);
  for (let j = T4; j < T; j++) {
    const s = dotRow(qv, kb + <usize>j * stride, D) * scale;
    store<f32>(sc + <usize>j * 4, s);
    m = max<f32>(m, s);
  }
  const negM = f32x4.splat(-m);
  let sv = f32x4.splat(0);
  for (let j = 0; j < T4; j += 4) {
    const p = exp4neg(f32x4.add(v128.load(sc + <usize>j * 4), negM));
    v128.store(sc + <usize>j * 4, p);
    sv = f32x4.add(sv, p);
  }
  let sum = hsum(sv);
  for (let j = T4; j < T; j++) {
    const p = f32x4.extract_lane(exp4neg(f32x4.add(f32x4.splat(load<f32>(sc + <usize>j * 4)), negM)), 0);
    store<f32>(sc + <usize>j * 4, p);
    sum += p;
  }
  memory.fill(ov, 0, <usize>D * 4);
  for (let j = 0; j < T4; j += 4) axpy4Rows(ov, vb + <usize>j * stride, stride, sc + <usize>j * 4, D);
  for (let j = T4; j < T; j++) axpyRow(ov, vb + <usize>j * stride, D, load<f32>(sc + <usize>j * 4));
  scaleRow(ov, D, 1.0 / sum);
}

/** The dot products of a[n] with the 4 rows b, b + stride, b + 2·stride, b + 3·stride, as lanes. */
function dot4(a: usize, b: usize, stride: usize, n: i32): v128 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const x = v128.load(a + <usize>j * 4), at = b + <usize>j * 4;
    a0 = fma(x, v128.load(at), a0);
    a1 = fma(x, v128.load(at + stride), a1);
    a2 = fma(x, v128.load(at + 2 * stride), a2);
    a3 = fma(x, v128.load(at + 3 * stride), a3);
  }
  // lane sums of a0..a3 as the lanes of one vector
  const s01 = f32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const s23 = f32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
  let s = f32x4.add(i32x4.shuffle(s01, s23, 0, 1, 4, 5), i32x4.shuffle(s01, s23, 2, 3, 6, 7));
  for (; j < n; j++) {
    const x = load<f32>(a + <usize>j * 4), at = b + <usize>j * 4;
    s = f32x4.add(s, f32x4(x * load<f32>(at), x * load<f32>(at + stride), x * load<f32>(at + 2 * stride), x * load<f32>(at + 3 * stride)));
  }
  return s;
}

/** y[n] += Σ_i p[i]·x_i[n] over the 4 rows x_i = x + i·stride, p at p. */
function axpy4Rows(y: usize, x: usize, stride: usize, p: usize, n: i32): void {
  const p0 = v128.load32_splat(p), p1 = v128.load32_splat(p + 4), p2 = v128.load32_splat(p + 8), p3 = v128.load32_splat(p + 12);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const at = x + <usize>j * 4;
    let acc = fma(p0, v128.load(at), v128.load(y + <usize>j * 4));
    acc = fma(p1, v128.load(at + stride), acc);
    acc = fma(p2, v128.load(at + 2 * stride), acc);
    v128.store(y + <usize>j * 4, fma(p3, v128.load(at + 3 * stride), acc));
  }
  for (; j < n; j++) {
    const at = x + <usize>j * 4;
    let v = load<f32>(y + <usize>j * 4) + load<f32>(p) * load<f32>(at);
    v += load<f32>(p + 4) * load<f32>(at + stride);
    v += load<f32>(p + 8) * load<f32>(at + 2 * stride);
    store<f32>(y + <usize>j * 4, v + load<f32>(p + 12) * load<f32>(at + 3 * stride));
  }
}

function axpyRow(y: usize, x: usize, n: i32, a: f32): void {
  const av = f32x4.splat(a);
  let j = 0;
  for (; j + 4 <= n; j += 4) v128.store(y + <usize>j * 4, fma(av, v128.load(x + <usize>j * 4), v128.load(y + <usize>j * 4)));
  for (; j < n; j++) store<f32>(y + <usize>j * 4, load<f32>(y + <usize>j * 4) + a * load<f32>(x + <usize>j * 4));
}
