// Matrix products of a linear layer, over f32 activations and f32, bf16 or int8 weights.
//
// One blocked driver (BLIS-style) serves all three forms: A is packed into [4-row strips][p][4],
// B into [8-column strips][p][8] (dequantizing bf16 and int8 on the way), and a 4x8 register-
// blocked micro-kernel does the arithmetic. Edges (M % 4, N % 8) go through a small tile, so any
// sizes work. Forward products with fewer than 4 rows (decoding) take a dot-product path that
// streams each weight row once.

import { fma, hsum, storeLanes } from './simd';
import { KC, KC_MAX, NC, MC, PACK_B_BYTES, packA, packB, tile } from './workspace';

/** Weight storage types. */
export const WT_F32: i32 = 0;
export const WT_BF16: i32 = 1;
export const WT_I8: i32 = 2;

// @ts-ignore: decorator
@inline function elemBytes(wt: i32): usize {
  return wt == WT_F32 ? 4 : wt == WT_BF16 ? 2 : 1;
}

/** One weight element as f32 (no scale). */
// @ts-ignore: decorator
@inline function wload(b: usize, idx: usize, wt: i32): f32 {
  if (wt == WT_F32) return load<f32>(b + (idx << 2));
  if (wt == WT_BF16) return reinterpret<f32>(<u32>load<u16>(b + (idx << 1)) << 16);
  return <f32>load<i8>(b + idx);
}

/** Four consecutive weight elements as f32x4 (no scale). */
// @ts-ignore: decorator
@inline function wload4(src: usize, wt: i32): v128 {
  if (wt == WT_F32) return v128.load(src);
  if (wt == WT_BF16) return i32x4.shl(i32x4.extend_low_i16x8_u(v128.load64_zero(src)), 16);
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(src))));
}

/** C[4x8] (+)= Ap[kc][4] · Bp[kc][8]; ldc in bytes. */
function kernel4x8(c: usize, ldc: usize, a: usize, b: usize, kc: i32, load: bool): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  if (load) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(c + ldc); c11 = v128.load(c + ldc, 16);
    c20 = v128.load(c + 2 * ldc); c21 = v128.load(c + 2 * ldc, 16);
    c30 = v128.load(c + 3 * ldc); c31 = v128.load(c + 3 * ldc, 16);
  }
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(b), b1 = v128.load(b, 16);
    let x = v128.load32_splat(a);
    c00 = fma(x, b0, c00); c01 = fma(x, b1, c01);
    x = v128.load32_splat(a, 4);
    c10 = fma(x, b0, c10); c11 = fma(x, b1, c11);
    x = v128.load32_splat(a, 8);
    c20 = fma(x, b0, c20); c21 = fma(x, b1, c21);
    x = v128.load32_splat(a, 12);
    c30 = fma(x, b0, c30); c31 = fma(x, b1, c31);
    a += 16; b += 32;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
}

/** Packs A[mc x kc] (element (i, p) at a + (i·ars + p·aps)·4) into [mc/4][kc][4], zero-padded. */
function packPanelA(dst: usize, a: usize, ars: usize, aps: usize, mc: i32, kc: i32): void {
  for (let i0 = 0; i0 < mc; i0 += 4) {
    const strip = dst + <usize>(i0 * kc) * 4;
    const full = i0 + 4 <= mc;
    if (full && aps == 1) {
      const r0 = a + <usize>i0 * ars * 4, r1 = r0 + ars * 4, r2 = r1 + ars * 4, r3 = r2 + ars * 4;
      let p = 0;
      for (; p + 4 <= kc; p += 4) {
        const o = <usize>p * 4;
        const v0 = v128.load(r0 + o), v1 = v128.load(r1 + o), v2 = v128.load(r2 + o), v3 = v128.load(r3 + o);
        const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
        const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
        const d = strip + o * 4;
        v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5));
        v128.store(d, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 16);
        v128.store(d, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 32);
        v128.store(d, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 48);
      }
      for (; p < kc; p++) {
        const o = <usize>p * 4, d = strip + o * 4;
        store<f32>(d, load<f32>(r0 + o)); store<f32>(d, load<f32>(r1 + o), 4);
        store<f32>(d, load<f32>(r2 + o), 8); store<f32>(d, load<f32>(r3 + o), 12);
      }
    } else if (full && ars == 1) {
      const r = a + <usize>i0 * 4;
      for (let p = 0; p < kc; p++) v128.store(strip + <usize>p * 16, v128.load(r + <usize>p * aps * 4));
    } else {
      for (let p = 0; p < kc; p++) {
        for (let r = 0; r < 4; r++) {
          const i = i0 + r;
          const v: f32 = i < mc ? load<f32>(a + (<usize>i * ars + <usize>p * aps) * 4) : 0;
          store<f32>(strip + <usize>(p * 4 + r) * 4, v);
        }
      }
    }
  }
}

/**
 * Packs B[kc x nc] (element (p, j) at b + (p·bks + j·bns)·elemBytes) into [nc/8][kc][8] f32,
 * zero-padded; int8 elements are multiplied by scale[j] (scaleByCol) or scale[p].
 */
function packPanelB(dst: usize, b: usize, bks: usize, bns: usize, wt: i32, scale: usize, scaleByCol: bool, kc: i32, nc: i32): void {
  const es = elemBytes(wt), quant = wt == WT_I8;
  const full = nc & ~7;
  if (bns == 1) {
    // Rows of B are contiguous along j: walk each row once, 8 columns to a strip.
    for (let p = 0; p < kc; p++) {
      const row = b + <usize>p * bks * es;
      let s0 = f32x4.splat(1), s1 = s0;
      if (quant && !scaleByCol) { s0 = v128.load32_splat(scale + <usize>p * 4); s1 = s0; }
      for (let j0 = 0; j0 < full; j0 += 8) {
        const src = row + <usize>j0 * es;
        let lo: v128, hi: v128;
        if (wt == WT_F32) {
          lo = v128.load(src); hi = v128.load(src, 16);
        } else if (wt == WT_BF16) {
          const v = v128.load(src);
          lo = i32x4.shl(i32x4.extend_low_i16x8_u(v), 16); hi = i32x4.shl(i32x4.extend_high_i16x8_u(v), 16);
        } else {
          const w = i16x8.extend_low_i8x16_s(v128.load64_zero(src));
          lo = f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(w)); hi = f32x4.convert_i32x4_s(i32x4.extend_high_i16x8_s(w));
          if (scaleByCol) { s0 = v128.load(scale + <usize>j0 * 4); s1 = v128.load(scale + <usize>j0 * 4, 16); }
          lo = f32x4.mul(lo, s0); hi = f32x4.mul(hi, s1);
        }
        const d = dst + <usize>(j0 * kc + p * 8) * 4;
        v128.store(d, lo); v128.store(d, hi, 16);
      }
    }
  } else if (bks == 1) {
    // Columns of B are contiguous along p (B = Wᵀ): transpose 8 columns x 4 p at a time.
    const rs = bns * es;
    const p4 = kc & ~3;
    for (let j0 = 0; j0 < full; j0 += 8) {
      for (let p = 0; p < p4; p += 4) {
        const r0 = b + <usize>j0 * rs + <usize>p * es;
        let v0 = wload4(r0, wt), v1 = wload4(r0 + rs, wt), v2 = wload4(r0 + 2 * rs, wt), v3 = wload4(r0 + 3 * rs, wt);
        let v4 = wload4(r0 + 4 * rs, wt), v5 = wload4(r0 + 5 * rs, wt), v6 = wload4(r0 + 6 * rs, wt), v7 = wload4(r0 + 7 * rs, wt);
        if (quant) {
          if (scaleByCol) {
            const sp = scale + <usize>j0 * 4;
            v0 = f32x4.mul(v0, v128.load32_splat(sp)); v1 = f32x4.mul(v1, v128.load32_splat(sp, 4));
            v2 = f32x4.mul(v2, v128.load32_splat(sp, 8)); v3 = f32x4.mul(v3, v128.load32_splat(sp, 12));
            v4 = f32x4.mul(v4, v128.load32_splat(sp, 16)); v5 = f32x4.mul(v5, v128.load32_splat(sp, 20));
            v6 = f32x4.mul(v6, v128.load32_splat(sp, 24)); v7 = f32x4.mul(v7, v128.load32_splat(sp, 28));
          } else {
            const sv = v128.load(scale + <usize>p * 4);
            v0 = f32x4.mul(v0, sv); v1 = f32x4.mul(v1, sv); v2 = f32x4.mul(v2, sv); v3 = f32x4.mul(v3, sv);
            v4 = f32x4.mul(v4, sv); v5 = f32x4.mul(v5, sv); v6 = f32x4.mul(v6, sv); v7 = f32x4.mul(v7, sv);
          }
        }
        const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v0, v1, 2, 6, 3, 7);
        const t2 = i32x4.shuffle(v2, v3, 0, 4, 1, 5), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
        const u0 = i32x4.shuffle(v4, v5, 0, 4, 1, 5), u1 = i32x4.shuffle(v4, v5, 2, 6, 3, 7);
        const u2 = i32x4.shuffle(v6, v7, 0, 4, 1, 5), u3 = i32x4.shuffle(v6, v7, 2, 6, 3, 7);
        const d = dst + <usize>(j0 * kc + p * 8) * 4;
        v128.store(d, i32x4.shuffle(t0, t2, 0, 1, 4, 5)); v128.store(d, i32x4.shuffle(u0, u2, 0, 1, 4, 5), 16);
        v128.store(d, i32x4.shuffle(t0, t2, 2, 3, 6, 7), 32); v128.store(d, i32x4.shuffle(u0, u2, 2, 3, 6, 7), 48);
        v128.store(d, i32x4.shuffle(t1, t3, 0, 1, 4, 5), 64); v128.store(d, i32x4.shuffle(u1, u3, 0, 1, 4, 5), 80);
        v128.store(d, i32x4.shuffle(t1, t3, 2, 3, 6, 7), 96); v128.store(d, i32x4.shuffle(u1, u3, 2, 3, 6, 7), 112);
      }
    }
    for (let j0 = 0; j0 < full; j0 += 8) {
      for (let p = p4; p < kc; p++) packScalarRow(dst + <usize>(j0 * kc) * 4, b, bks, bns, wt, scale, scaleByCol, p, j0, nc);
    }
  } else {
    for (let j0 = 0; j0 < full; j0 += 8) {
      for (let p = 0; p < kc; p++) packScalarRow(dst + <usize>(j0 * kc) * 4, b, bks, bns, wt, scale, scaleByCol, p, j0, nc);
    }
  }
  if (full < nc) {
    for (let p = 0; p < kc; p++) packScalarRow(dst + <usize>(full * kc) * 4, b, bks, bns, wt, scale, scaleByCol, p, full, nc);
  }
}

/** Packs the 8 elements (p, j0..j0+7) of B one by one, zeros past nc. */
function packScalarRow(strip: usize, b: usize, bks: usize, bns: usize, wt: i32, scale: usize, scaleByCol: bool, p: i32, j0: i32, nc: i32): void {
  for (let jj = 0; jj < 8; jj++) {
    const j = j0 + jj;
    let v: f32 = 0;
    if (j < nc) {
      v = wload(b, <usize>p * bks + <usize>j * bns, wt);
      if (wt == WT_I8) v *= load<f32>(scale + <usize>(scaleByCol ? j : p) * 4);
    }
    store<f32>(strip + <usize>(p * 8 + jj) * 4, v);
  }
}

/**
 * C[M,N] (+)= A[M,K] · B[K,N], the general driver. Strides are in elements: A(i,p) at
 * a + (i·ars + p·aps)·4 (f32), B(p,j) at b + (p·bks + j·bns)·elemBytes(wt), C(i,j) at c + (i·ldc + j)·4.
 */
export function gemm(c: usize, ldc: usize, a: usize, ars: usize, aps: usize, b: usize, bks: usize, bns: usize,
  wt: i32, scale: usize, scaleByCol: bool, M: i32, N: i32, K: i32, accumulate: bool): void {
  if (K == 0) {
    if (!accumulate) for (let i = 0; i < M; i++) memory.fill(c + <usize>i * ldc * 4, 0, <usize>N * 4);
    return;
  }
  const es = elemBytes(wt);
  const bp = packB(), ap = packA(), t = tile();
  const ldcb = ldc * 4;
  // Reduction blocks of equal depth near KC (288 is one block of 288, not 256 + 32): each block
  // reads and writes C once, so a thin remainder block would cost a whole pass over C.
  const blocks = max(1, max((K + KC / 2) / KC, (K + KC_MAX - 1) / KC_MAX));
  const depth = (((K + blocks - 1) / blocks) + 3) & ~3;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = min(NC, N - jc);
    for (let pc = 0; pc < K; pc += depth) {
      const kc = min(depth, K - pc);
      const sc = wt == WT_I8 ? scale + <usize>(scaleByCol ? jc : pc) * 4 : 0;
      packPanelB(bp, b + (<usize>pc * bks + <usize>jc * bns) * es, bks, bns, wt, sc, scaleByCol, kc, nc);
      const load = accumulate || pc > 0;
      for (let ic = 0; ic < M; ic += MC) {
        const mc = min(MC, M - ic);
        packPanelA(ap, a + (<usize>ic * ars + <usize>pc * aps) * 4, ars, aps, mc, kc);
        for (let jr = 0; jr < nc; jr += 8) {
          const bstrip = bp + <usize>(jr * kc) * 4;
          for (let ir = 0; ir < mc; ir += 4) {
            const astrip = ap + <usize>(ir * kc) * 4;
            const cp = c + (<usize>(ic + ir) * ldc + <usize>(jc + jr)) * 4;
            if (ir + 4 <= mc && jr + 8 <= nc) {
              kernel4x8(cp, ldcb, astrip, bstrip, kc, load);
            } else {
              const rows = min(4, mc - ir), cols = min(8, nc - jr);
              memory.fill(t, 0, 128);
              if (load) for (let r = 0; r < rows; r++) memory.copy(t + <usize>r * 32, cp + <usize>r * ldcb, <usize>cols * 4);
              kernel4x8(t, 32, astrip, bstrip, kc, true);
              for (let r = 0; r < rows; r++) memory.copy(cp + <usize>r * ldcb, t + <usize>r * 32, <usize>cols * 4);
            }
          }
        }
      }
    }
  }
}

/** Transposes four accumulators and adds across, so lane r holds the total of a_r. */
// @ts-ignore: decorator
@inline function sum4(a0: v128, a1: v128, a2: v128, a3: v128): v128 {
  const t0 = f32x4.add(i32x4.shuffle(a0, a1, 0, 4, 1, 5), i32x4.shuffle(a0, a1, 2, 6, 3, 7));
  const t1 = f32x4.add(i32x4.shuffle(a2, a3, 0, 4, 1, 5), i32x4.shuffle(a2, a3, 2, 6, 3, 7));
  return f32x4.add(i32x4.shuffle(t0, t1, 0, 1, 4, 5), i32x4.shuffle(t0, t1, 2, 3, 6, 7));
}

/** Adds x[k]·w_r[k] for k in [k0, K) to lane r, rows w0..w3 (the scalar tail of a dot product). */
// @ts-ignore: decorator
@inline function tail4(s: v128, x: usize, w0: usize, w1: usize, w2: usize, w3: usize, k0: i32, K: i32, wt: i32): v128 {
  for (let k = k0; k < K; k++) {
    const xv = load<f32>(x + <usize>k * 4), o = <usize>k;
    s = f32x4.add(s, f32x4(xv * wload(w0, o, wt), xv * wload(w1, o, wt), xv * wload(w2, o, wt), xv * wload(w3, o, wt)));
  }
  return s;
}

/** Dot products of x[K] with 4 f32 or bf16 weight rows, returned as lanes. */
// @ts-ignore: decorator
@inline function dot4rows(x: usize, w: usize, rowBytes: usize, K: i32, wt: i32): v128 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let k = 0;
  if (wt == WT_BF16) {
    // An i32 lane of 8 bf16 holds elements 2l (low half) and 2l+1 (high half): shifting and
    // masking gives the even and odd elements as f32, matched by x split the same way.
    const hiMask = i32x4.splat(0xffff0000);
    for (; k + 8 <= K; k += 8) {
      const xp = x + <usize>k * 4, o = <usize>k * 2;
      const x0 = v128.load(xp), x1 = v128.load(xp, 16);
      const xe = i32x4.shuffle(x0, x1, 0, 2, 4, 6), xo = i32x4.shuffle(x0, x1, 1, 3, 5, 7);
      let v = v128.load(w + o);
      a0 = fma(v128.and(v, hiMask), xo, fma(i32x4.shl(v, 16), xe, a0));
      v = v128.load(w1 + o);
      a1 = fma(v128.and(v, hiMask), xo, fma(i32x4.shl(v, 16), xe, a1));
      v = v128.load(w2 + o);
      a2 = fma(v128.and(v, hiMask), xo, fma(i32x4.shl(v, 16), xe, a2));
      v = v128.load(w3 + o);
      a3 = fma(v128.and(v, hiMask), xo, fma(i32x4.shl(v, 16), xe, a3));
    }
  } else {
    for (; k + 4 <= K; k += 4) {
      const xv = v128.load(x + <usize>k * 4), o = <usize>k * 4;
      a0 = fma(v128.load(w + o), xv, a0); a1 = fma(v128.load(w1 + o), xv, a1);
      a2 = fma(v128.load(w2 + o), xv, a2); a3 = fma(v128.load(w3 + o), xv, a3);
    }
  }
  return tail4(sum4(a0, a1, a2, a3), x, w, w1, w2, w3, k, K, wt);
}

/** Block of x that shares one scale in the int8 GEMV: 2·127·32767 per lane-step, 256 fit in i32. */
export const XB: i32 = 256;
/** x·65534 carries the low part: |x/s − hi| ≤ 1/2 maps onto ±32767. */
export const LO: f32 = 65534.0;
/** Longest x the int8 GEMV splits into the A-panel workspace (two int16 halves plus scales). */
export const XQ_MAX: i32 = 30720;

/**
 * Splits x f32[K] into two int16 parts per element and one scale per block of XB:
 * x ≈ s·(hi + lo/65534), s = max|x|/32767, which keeps about 30 bits, more than f32 has.
 * hi goes to xq[0..K), lo to xq[K..2K), the scales to xs.
 */
export function splitX16(xq: usize, xs: usize, x: usize, K: i32): void {
  const xl = xq + <usize>K * 2;
  for (let k0 = 0; k0 < K; k0 += XB) {
    const end = min(K, k0 + XB);
    let mv = f32x4.splat(0);
    let k = k0;
    for (; k + 4 <= end; k += 4) mv = f32x4.max(mv, f32x4.abs(v128.load(x + <usize>k * 4)));
    let m = max<f32>(max<f32>(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max<f32>(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    for (; k < end; k++) m = max<f32>(m, Mathf.abs(load<f32>(x + <usize>k * 4)));
    const s: f32 = m / 32767.0, inv: f32 = s == 0 ? 0 : 1.0 / s;
    store<f32>(xs + <usize>(k0 / XB) * 4, s);
    const iv = f32x4.splat(inv), lim = f32x4.splat(32767), nlim = f32x4.splat(-32767), lo = f32x4.splat(LO);
    for (k = k0; k + 8 <= end; k += 8) {
      const t0 = f32x4.min(lim, f32x4.max(nlim, f32x4.mul(v128.load(x + <usize>k * 4), iv)));
      const t1 = f32x4.min(lim, f32x4.max(nlim, f32x4.mul(v128.load(x + <usize>k * 4, 16), iv)));
      const h0 = f32x4.nearest(t0), h1 = f32x4.nearest(t1);
      const r0 = f32x4.nearest(f32x4.mul(f32x4.sub(t0, h0), lo)), r1 = f32x4.nearest(f32x4.mul(f32x4.sub(t1, h1), lo));
      v128.store(xq + <usize>k * 2, i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(h0), i32x4.trunc_sat_f32x4_s(h1)));
      v128.store(xl + <usize>k * 2, i16x8.narrow_i32x4_s(i32x4.trunc_sat_f32x4_s(r0), i32x4.trunc_sat_f32x4_s(r1)));
    }
    for (; k < end; k++) {
      const t = min<f32>(32767, max<f32>(-32767, load<f32>(x + <usize>k * 4) * inv));
      const hi = nearest<f32>(t);
      store<i16>(xq + <usize>k * 2, <i16>(<i32>hi));
      store<i16>(xl + <usize>k * 2, <i16>(<i32>nearest<f32>((t - hi) * LO)));
    }
  }
}

/**
 * Dot products of x with 4 int8 weight rows (without their row scales), as lanes: the products
 * run as exact integer multiply-adds (i32x4.dot_i16x8_s) of the weights with the two int16 parts
 * of x (splitX16), and only each block's sums are converted to f32. Four rows at once keep four
 * streams of weights in flight. The last K % 16 elements use x itself.
 */
// @ts-ignore: decorator
@inline function dot4rowsI8(x: usize, xq: usize, xs: usize, w: usize, rowBytes: usize, K: i32): v128 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes, xl = xq + <usize>K * 2;
  const K16 = K & ~15, invLo = f32x4.splat(1.0 / LO);
  for (let k0 = 0; k0 < K16; k0 += XB) {
    const end = min(K16, k0 + XB);
    let h0 = i32x4.splat(0), h1 = h0, h2 = h0, h3 = h0, l0 = h0, l1 = h0, l2 = h0, l3 = h0;
    for (let k = k0; k < end; k += 16) {
      const o = <usize>k, o2 = o * 2;
      const ha = v128.load(xq + o2), hb = v128.load(xq + o2, 16), la = v128.load(xl + o2), lb = v128.load(xl + o2, 16);
      let wa = v128.load8x8_s(w + o), wb = v128.load8x8_s(w + o, 8);
      h0 = i32x4.add(h0, i32x4.add(i32x4.dot_i16x8_s(wa, ha), i32x4.dot_i16x8_s(wb, hb)));
      l0 = i32x4.add(l0, i32x4.add(i32x4.dot_i16x8_s(wa, la), i32x4.dot_i16x8_s(wb, lb)));
      wa = v128.load8x8_s(w1 + o); wb = v128.load8x8_s(w1 + o, 8);
      h1 = i32x4.add(h1, i32x4.add(i32x4.dot_i16x8_s(wa, ha), i32x4.dot_i16x8_s(wb, hb)));
      l1 = i32x4.add(l1, i32x4.add(i32x4.dot_i16x8_s(wa, la), i32x4.dot_i16x8_s(wb, lb)));
      wa = v128.load8x8_s(w2 + o); wb = v128.load8x8_s(w2 + o, 8);
      h2 = i32x4.add(h2, i32x4.add(i32x4.dot_i16x8_s(wa, ha), i32x4.dot_i16x8_s(wb, hb)));
      l2 = i32x4.add(l2, i32x4.add(i32x4.dot_i16x8_s(wa, la), i32x4.dot_i16x8_s(wb, lb)));
      wa = v128.load8x8_s(w3 + o); wb = v128.load8x8_s(w3 + o, 8);
      h3 = i32x4.add(h3, i32x4.add(i32x4.dot_i16x8_s(wa, ha), i32x4.dot_i16x8_s(wb, hb)));
      l3 = i32x4.add(l3, i32x4.add(i32x4.dot_i16x8_s(wa, la), i32x4.dot_i16x8_s(wb, lb)));
    }
    const sh = v128.load32_splat(xs + <usize>(k0 / XB) * 4), sl = f32x4.mul(sh, invLo);
    a0 = fma(f32x4.convert_i32x4_s(l0), sl, fma(f32x4.convert_i32x4_s(h0), sh, a0));
    a1 = fma(f32x4.convert_i32x4_s(l1), sl, fma(f32x4.convert_i32x4_s(h1), sh, a1));
    a2 = fma(f32x4.convert_i32x4_s(l2), sl, fma(f32x4.convert_i32x4_s(h2), sh, a2));
    a3 = fma(f32x4.convert_i32x4_s(l3), sl, fma(f32x4.convert_i32x4_s(h3), sh, a3));
  }
  return tail4(sum4(a0, a1, a2, a3), x, w, w1, w2, w3, K16, K, WT_I8);
}

/** Dot products of x[K] with 4 int8 rows (no scales) when x is too long to quantize: f32 throughout. */
// @ts-ignore: decorator
@inline function dot4rowsI8f32(x: usize, w: usize, rowBytes: usize, K: i32): v128 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let k = 0;
  for (; k + 4 <= K; k += 4) {
    const xv = v128.load(x + <usize>k * 4), o = <usize>k;
    a0 = fma(wload4(w + o, WT_I8), xv, a0); a1 = fma(wload4(w1 + o, WT_I8), xv, a1);
    a2 = fma(wload4(w2 + o, WT_I8), xv, a2); a3 = fma(wload4(w3 + o, WT_I8), xv, a3);
  }
  return tail4(sum4(a0, a1, a2, a3), x, w, w1, w2, w3, k, K, WT_I8);
}

/**
 * The rows between the four streams of weights a decoding product reads (rows n, n + a, n + 2a
 * and n + 3a for n < a; the N − 4a ≤ 7 rows after them one at a time): about N/4, made odd. Most
 * models' N/4 is a multiple of a large power of two, and streams that many rows apart read
 * addresses that agree in their low bits: a 5632×2048 product ran 13% (bf16, Q4_0) to 39% (Q5_1)
 * slower than a 5636×2048 one per weight here.
 */
// @ts-ignore: decorator
@inline export function streamRows(N: i32): i32 {
  const quarter = N >> 2;
  return quarter > 1 ? (quarter - 1) | 1 : quarter;
}

/**
 * Y[M,N] (+)= X[M,K]·W[N,K]ᵀ row by row: each weight row is read once per row of X. int8
 * weights meet x split into two int16 parts (splitX16), so the products are integer
 * multiply-adds instead of conversions to f32, with f32 accuracy.
 */
function gemvXWt(y: usize, ldy: i32, x: usize, w: usize, scale: usize, M: i32, N: i32, K: i32, wt: i32, accumulate: bool): void {
  const rowBytes = <usize>K * elemBytes(wt);
  const xq = packA(), xs = xq + <usize>K * 4;
  const q16 = wt == WT_I8 && K <= XQ_MAX;
  for (let m = 0; m < M; m++) {
    const xr = x + <usize>m * <usize>K * 4, yr = y + <usize>m * <usize>ldy * 4;
    if (q16) splitX16(xq, xs, xr, K);
    // 4 rows at a time, one from each part of W: four long sequential streams of weights.
    const a = streamRows(N), qb = <usize>a * rowBytes, qy = <usize>a * 4;
    for (let n = 0; n < a; n++) {
      let s = dotRows(xr, xq, xs, w + <usize>n * rowBytes, qb, K, wt, q16);
      const yp = yr + <usize>n * 4;
      if (wt == WT_I8) s = f32x4.mul(s, scaleLanes(scale + <usize>n * 4, qy));
      storeLanes(yp, qy, s, 4, accumulate);
    }
    for (let n = a << 2; n < N; n++) {
      // A lone row: every lane reads the same row (row stride 0); lane 0 is its sum.
      let v = f32x4.extract_lane(dotRows(xr, xq, xs, w + <usize>n * rowBytes, 0, K, wt, q16), 0);
      if (wt == WT_I8) v *= load<f32>(scale + <usize>n * 4);
      const yp = yr + <usize>n * 4;
      store<f32>(yp, accumulate ? load<f32>(yp) + v : v);
    }
  }
}

/** The 4 int8 row scales at sp, sp + qy, sp + 2qy, sp + 3qy (bytes) as lanes. */
// @ts-ignore: decorator
@inline function scaleLanes(sp: usize, qy: usize): v128 {
  let sv = v128.load32_zero(sp);
  sv = v128.load32_lane(sp + qy, sv, 1);
  sv = v128.load32_lane(sp + 2 * qy, sv, 2);
  return v128.load32_lane(sp + 3 * qy, sv, 3);
}

/**
 * dot4rows for two rows of x at once (x0 into y0, x1 into y1, each result's lanes ys bytes
 * apart; (+)= as `accumulate`): each weight vector is loaded once for both, and each of the
 * eight accumulators takes exactly the operations dot4rows gives it, so both results are
 * bit-identical to dot4rows's (f32 and bf16).
 */
// @ts-ignore: decorator
@inline function dot4rowsPair(y0: usize, y1: usize, ys: usize, x0: usize, x1: usize, w: usize, rowBytes: usize, K: i32, wt: i32, accumulate: bool): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  const w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
  let k = 0;
  if (wt == WT_BF16) {
    const hiMask = i32x4.splat(0xffff0000);
    for (; k + 8 <= K; k += 8) {
      const o = <usize>k * 2, p0 = x0 + <usize>k * 4, p1 = x1 + <usize>k * 4;
      let u = v128.load(p0), t = v128.load(p0, 16);
      const xe0 = i32x4.shuffle(u, t, 0, 2, 4, 6), xo0 = i32x4.shuffle(u, t, 1, 3, 5, 7);
      u = v128.load(p1); t = v128.load(p1, 16);
      const xe1 = i32x4.shuffle(u, t, 0, 2, 4, 6), xo1 = i32x4.shuffle(u, t, 1, 3, 5, 7);
      let v = v128.load(w + o), we = i32x4.shl(v, 16), wo = v128.and(v, hiMask);
      a0 = fma(wo, xo0, fma(we, xe0, a0)); b0 = fma(wo, xo1, fma(we, xe1, b0));
      v = v128.load(w1 + o); we = i32x4.shl(v, 16); wo = v128.and(v, hiMask);
      a1 = fma(wo, xo0, fma(we, xe0, a1)); b1 = fma(wo, xo1, fma(we, xe1, b1));
      v = v128.load(w2 + o); we = i32x4.shl(v, 16); wo = v128.and(v, hiMask);
      a2 = fma(wo, xo0, fma(we, xe0, a2)); b2 = fma(wo, xo1, fma(we, xe1, b2));
      v = v128.load(w3 + o); we = i32x4.shl(v, 16); wo = v128.and(v, hiMask);
      a3 = fma(wo, xo0, fma(we, xe0, a3)); b3 = fma(wo, xo1, fma(we, xe1, b3));
    }
  } else {
    for (; k + 4 <= K; k += 4) {
      const o = <usize>k * 4, xv0 = v128.load(x0 + o), xv1 = v128.load(x1 + o);
      let v = v128.load(w + o);
      a0 = fma(v, xv0, a0); b0 = fma(v, xv1, b0);
      v = v128.load(w1 + o);
      a1 = fma(v, xv0, a1); b1 = fma(v, xv1, b1);
      v = v128.load(w2 + o);
      a2 = fma(v, xv0, a2); b2 = fma(v, xv1, b2);
      v = v128.load(w3 + o);
      a3 = fma(v, xv0, a3); b3 = fma(v, xv1, b3);
    }
  }
  const s0 = tail4(sum4(a0, a1, a2, a3), x0, w, w1, w2, w3, k, K, wt), s1 = tail4(sum4(b0, b1, b2, b3), x1, w, w1, w2, w3, k, K, wt);
  storeLanes(y0, ys, s0, 4, accumulate);
  storeLanes(y1, ys, s1, 4, accumulate);
}

/** Bytes of one row's int16 split (two halves of K) and its block scales, 16-byte aligned. */
// @ts-ignore: decorator
@inline function splitBytes(K: i32): usize {
  return (<usize>K * 4 + <usize>((K + XB - 1) / XB) * 4 + 15) & ~(<usize>15);
}

/**
 * Y[M,N] (+)= X[M,K]·W[N,K]ᵀ for the few rows of a batched decoding step: each group of 4 weight
 * rows (one from each part of W, as gemvXWt takes them: four sequential streams) is read from
 * memory once and meets every row of X while it is in cache, so M rows cost about one row's
 * weight traffic. Each row's arithmetic is gemvXWt's for that row alone, so every row's result
 * is bit-identical to a one-row product. int8 rows are split (splitX16) into the B-panel region,
 * as many at a time as it holds. Rows of Y are ldy floats apart.
 */
export function matmul_xwt_rows(y: usize, ldy: i32, x: usize, w: usize, scale: usize, M: i32, N: i32, K: i32, wt: i32, accumulate: bool): void {
  const rowBytes = <usize>K * elemBytes(wt);
  const q16 = wt == WT_I8 && K <= XQ_MAX;
  const stride = splitBytes(K), area = packB();
  const chunk = q16 ? max<i32>(1, <i32>(PACK_B_BYTES / stride)) : M;
  const a = streamRows(N), qb = <usize>a * rowBytes, qy = <usize>a * 4;
  for (let m0 = 0; m0 < M; m0 += chunk) {
    const mc = min(chunk, M - m0);
    if (q16) for (let m = 0; m < mc; m++) splitX16(area + <usize>m * stride, area + <usize>m * stride + <usize>K * 4, x + <usize>(m0 + m) * <usize>K * 4, K);
    for (let n = 0; n < a; n++) {
      const wn = w + <usize>n * rowBytes;
      let m = 0;
      if (wt != WT_I8) {
        for (; m + 2 <= mc; m += 2) {
          const r0 = <usize>(m0 + m);
          dot4rowsPair(y + (r0 * <usize>ldy + <usize>n) * 4, y + ((r0 + 1) * <usize>ldy + <usize>n) * 4, qy, x + r0 * <usize>K * 4, x + (r0 + 1) * <usize>K * 4, wn, qb, K, wt, accumulate);
        }
      }
      for (; m < mc; m++) {
        const xq = area + <usize>m * stride;
        let s = dotRows(x + <usize>(m0 + m) * <usize>K * 4, xq, xq + <usize>K * 4, wn, qb, K, wt, q16);
        if (wt == WT_I8) s = f32x4.mul(s, scaleLanes(scale + <usize>n * 4, qy));
        storeLanes(y + (<usize>(m0 + m) * <usize>ldy + <usize>n) * 4, qy, s, 4, accumulate);
      }
    }
    for (let n = a << 2; n < N; n++) {
      for (let m = 0; m < mc; m++) {
        const xq = area + <usize>m * stride;
        let v = f32x4.extract_lane(dotRows(x + <usize>(m0 + m) * <usize>K * 4, xq, xq + <usize>K * 4, w + <usize>n * rowBytes, 0, K, wt, q16), 0);
        if (wt == WT_I8) v *= load<f32>(scale + <usize>n * 4);
        const yp = y + (<usize>(m0 + m) * <usize>ldy + <usize>n) * 4;
        store<f32>(yp, accumulate ? load<f32>(yp) + v : v);
      }
    }
  }
}

/** The dot products of x with 4 weight rows by the path that suits the storage type. */
// @ts-ignore: decorator
@inline function dotRows(x: usize, xq: usize, xs: usize, w: usize, rowBytes: usize, K: i32, wt: i32, q16: bool): v128 {
  if (wt != WT_I8) return dot4rows(x, w, rowBytes, K, wt);
  return q16 ? dot4rowsI8(x, xq, xs, w, rowBytes, K) : dot4rowsI8f32(x, w, rowBytes, K);
}

/**
 * Y[M,N] (+)= X[M,K]·W[N,K]ᵀ: the forward product of a linear layer (W stored f32, bf16 or int8
 * with scale[N]); rows of Y are ldy floats apart, so a block of columns of a wider Y can be written.
 */
export function matmul_xwt(y: usize, ldy: i32, x: usize, w: usize, scale: usize, M: i32, N: i32, K: i32, wt: i32, accumulate: bool): void {
  if (M < 4) gemvXWt(y, ldy, x, w, scale, M, N, K, wt, accumulate);
  else gemm(y, ldy, x, K, 1, w, 1, K, wt, scale, true, M, N, K, accumulate);
}

/** dX[M,K] (+)= dY[M,N]·W[N,K]: the input gradient of a linear layer. */
export function matmul_dyw(dx: usize, dy: usize, w: usize, scale: usize, M: i32, N: i32, K: i32, wt: i32, accumulate: bool): void {
  gemm(dx, K, dy, N, 1, w, K, 1, wt, scale, false, M, K, N, accumulate);
}
