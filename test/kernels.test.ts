/**
 * Every kernel of both core builds against the plain TypeScript reference on awkward shapes,
 * and every backward kernel against finite differences of its own forward kernel.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as ref from './reference/kernels.ts';
import { assertClose, coreKinds, testCore, type TestCore } from './helpers.ts';
import { DECODE_ROW_INTS, WeightType } from '../src/runtime/kernels.ts';

const f32 = Math.fround;

/** Σ out∘r for a random projection r: a scalar loss whose gradient wrt out is r. */
function project(out: ArrayLike<number>, r: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < out.length; i++) s += out[i] * r[i];
  return s;
}

/** Checks an analytic gradient against central differences of `loss` at x (f64 sums of f32 kernels). */
function checkGrad(
  loss: (x: Float32Array) => number,
  x: Float32Array,
  grad: Float32Array,
  label: string,
  h = 1e-2,
  rtol = 2e-2,
): void {
  const fd = ref.finiteDiffGrad((xd) => loss(Float32Array.from(xd)), Float64Array.from(x), h);
  assertClose(grad, fd, rtol, `${label} vs finite differences`);
}

for (const kind of await coreKinds()) {
  describe(`${kind} core`, async () => {
    const c: TestCore = await testCore(kind);
    const k = c.kernels;

    it('matmul in its three forms matches the reference on awkward shapes (f32, bf16, int8 weights)', () => {
      const shapes = [
        [1, 1, 1],
        [1, 7, 5],
        [2, 9, 33],
        [3, 4, 8],
        [4, 8, 4],
        [5, 11, 17],
        [13, 21, 300],
        [37, 70, 530],
        [130, 515, 259],
      ];
      for (const [M, N, K] of shapes) {
        const mark = c.arena.mark();
        const X = ref.randn(M * 7 + N, M * K),
          W = ref.randn(N + 3, N * K),
          dY = ref.randn(K + 5, M * N);
        const wBf16 = ref.f32ToBf16(W),
          { q, scale } = ref.quantizeRowsInt8(W, N, K);
        const weights: [WeightType, Float32Array | Uint16Array | Int8Array, Float32Array][] = [
          [WeightType.F32, W, W],
          [WeightType.BF16, wBf16, ref.bf16ToF32(wBf16)],
          [WeightType.I8, q, ref.dequantInt8(q, scale, N, K)],
        ];
        const px = c.put(X),
          pdy = c.put(dY),
          ps = c.put(scale);
        for (const [wt, stored, deq] of weights) {
          const pw = c.put(stored);
          const y = c.zeros(M * N),
            dx = c.zeros(M * K);
          k.matmulXWt(y, px, pw, ps, M, N, K, wt);
          const tag = `${M}x${N}x${K} wt${wt}`;
          assertClose(c.f32(y, M * N), ref.matmulXWt(X, deq, M, N, K), 1e-5, `xwt ${tag}`);
          k.matmulDyW(dx, pdy, pw, ps, M, N, K, wt);
          assertClose(c.f32(dx, M * K), ref.matmulDyW(dY, deq, M, N, K), 1e-5, `dyw ${tag}`);
          // accumulate variants add to what is there
          k.matmulXWt(y, px, pw, ps, M, N, K, wt, true);
          assertClose(
            c.f32(y, M * N),
            ref.matmulXWt(X, deq, M, N, K).map((v) => 2 * v),
            1e-5,
            `xwt acc ${tag}`,
          );
          k.matmulDyW(dx, pdy, pw, ps, M, N, K, wt, true);
          assertClose(
            c.f32(dx, M * K),
            ref.matmulDyW(dY, deq, M, N, K).map((v) => 2 * v),
            1e-5,
            `dyw acc ${tag}`,
          );
        }
        const dw = c.zeros(N * K);
        k.matmulDyTX(dw, pdy, px, M, N, K);
        assertClose(c.f32(dw, N * K), ref.matmulDyTX(dY, X, M, N, K), 1e-5, `dytx ${M}x${N}x${K}`);
        k.matmulDyTX(dw, pdy, px, M, N, K, true);
        assertClose(
          c.f32(dw, N * K),
          ref.matmulDyTX(dY, X, M, N, K).map((v) => 2 * v),
          1e-5,
          `dytx acc ${M}x${N}x${K}`,
        );
        c.arena.release(mark);
      }
    });

    it('matmul backward forms are the gradients of the forward (finite differences)', () => {
      const [M, N, K] = [3, 5, 6];
      const X = ref.randn(1, M * K),
        W = ref.randn(2, N * K),
        R = ref.randn(3, M * N);
      const mark = c.arena.mark();
      const py = c.zeros(M * N),
        px = c.zeros(M * K),
        pw = c.zeros(N * K),
        pr = c.put(R);
      const fwd = (x: Float32Array, w: Float32Array) => {
        c.arena.f32(px, M * K).set(x);
        c.arena.f32(pw, N * K).set(w);
        k.matmulXWt(py, px, pw, 0, M, N, K, WeightType.F32);
        return project(c.arena.f32(py, M * N), R);
      };
      fwd(X, W);
      const dx = c.zeros(M * K),
        dw = c.zeros(N * K);
      k.matmulDyW(dx, pr, pw, 0, M, N, K, WeightType.F32);
      k.matmulDyTX(dw, pr, px, M, N, K);
      checkGrad((x) => fwd(x, W), X, c.f32(dx, M * K), 'dX');
      checkGrad((w) => fwd(X, w), W, c.f32(dw, N * K), 'dW');
      c.arena.release(mark);
    });

    it('rmsnorm forward and backward match the reference and finite differences', () => {
      for (const [rows, dim] of [
        [1, 1],
        [3, 7],
        [5, 16],
        [2, 301],
      ]) {
        const mark = c.arena.mark();
        const X = ref.randn(rows + dim, rows * dim),
          W = ref.randn(dim, dim),
          dY = ref.randn(7, rows * dim);
        const px = c.put(X),
          pw = c.put(W),
          py = c.zeros(rows * dim),
          pr = c.zeros(rows);
        k.rmsnormForward(py, pr, px, pw, rows, dim, 1e-5);
        const want = ref.rmsnormFwd(X, W, rows, dim, 1e-5);
        assertClose(c.f32(py, rows * dim), want.Y, 1e-5, `rmsnorm y ${rows}x${dim}`);
        assertClose(c.f32(pr, rows), want.rstd, 1e-5, `rmsnorm rstd ${rows}x${dim}`);
        const pdy = c.put(dY),
          pdx = c.zeros(rows * dim),
          pdw = c.zeros(dim);
        k.rmsnormBackward(pdx, pdw, pdy, px, pw, pr, rows, dim);
        const g = ref.rmsnormBwd(dY, X, W, want.rstd, rows, dim);
        assertClose(c.f32(pdx, rows * dim), g.dX, 1e-5, `rmsnorm dx ${rows}x${dim}`, 1e-6);
        assertClose(c.f32(pdw, dim), g.dW, 1e-5, `rmsnorm dw ${rows}x${dim}`);
        c.arena.release(mark);
      }
      const [rows, dim] = [2, 6];
      const X = ref.randn(1, rows * dim),
        W = ref.randn(2, dim),
        R = ref.randn(3, rows * dim);
      const mark = c.arena.mark();
      const px = c.zeros(rows * dim),
        pw = c.zeros(dim),
        py = c.zeros(rows * dim),
        pr = c.zeros(rows),
        pR = c.put(R);
      const fwd = (x: Float32Array, w: Float32Array) => {
        c.arena.f32(px, rows * dim).set(x);
        c.arena.f32(pw, dim).set(w);
        k.rmsnormForward(py, pr, px, pw, rows, dim, 1e-5);
        return project(c.arena.f32(py, rows * dim), R);
      };
      fwd(X, W);
      const pdx = c.zeros(rows * dim),
        pdw = c.zeros(dim);
      k.rmsnormBackward(pdx, pdw, pR, px, pw, pr, rows, dim);
      checkGrad((x) => fwd(x, W), X, c.f32(pdx, rows * dim), 'rmsnorm dX');
      checkGrad((w) => fwd(X, w), W, c.f32(pdw, dim), 'rmsnorm dW');
      c.arena.release(mark);
    });

    it('RoPE forward and inverse match the Hugging Face reference at any position offset', () => {
      for (const [B, S, H, D, theta, offset] of [
        [1, 1, 1, 2, 10000, 0],
        [2, 5, 3, 6, 10000, 3],
        [1, 9, 2, 16, 500000, 4090],
        [2, 3, 2, 64, 10000, 17],
      ]) {
        const mark = c.arena.mark();
        const X = ref.randn(S * D + offset, B * S * H * D);
        const px = c.put(X),
          tab = c.zeros(S * D);
        k.ropeTable(tab, S, D, theta, offset);
        k.ropeApply(px, tab, B, S, H, D);
        const tag = `${B}x${S}x${H}x${D} theta ${theta} offset ${offset}`;
        assertClose(c.f32(px, X.length), ref.ropeFwd(X, B, S, H, D, theta, offset), 2e-6, `rope ${tag}`);
        const pdy = c.put(X);
        k.ropeApply(pdy, tab, B, S, H, D, true);
        assertClose(c.f32(pdy, X.length), ref.ropeBwd(X, B, S, H, D, theta, offset), 2e-6, `rope inverse ${tag}`);
        c.arena.release(mark);
      }
      const [B, S, H, D] = [1, 3, 2, 4];
      const X = ref.randn(5, B * S * H * D),
        R = ref.randn(6, X.length);
      const mark = c.arena.mark();
      const px = c.zeros(X.length),
        tab = c.zeros(S * D),
        pR = c.put(R);
      k.ropeTable(tab, S, D, 10000, 2);
      const fwd = (x: Float32Array) => {
        c.arena.f32(px, x.length).set(x);
        k.ropeApply(px, tab, B, S, H, D);
        return project(c.arena.f32(px, x.length), R);
      };
      k.ropeApply(pR, tab, B, S, H, D, true);
      checkGrad(fwd, X, c.f32(pR, X.length), 'rope dX');
      c.arena.release(mark);
    });

    it('SwiGLU forward and backward match the reference and finite differences', () => {
      for (const n of [1, 3, 8, 37]) {
        const mark = c.arena.mark();
        const G = ref.randn(n, n).map((v) => 3 * v),
          U = ref.randn(n + 1, n),
          dH = ref.randn(n + 2, n);
        const pg = c.put(G),
          pu = c.put(U),
          ph = c.zeros(n);
        k.swigluForward(ph, pg, pu, n);
        assertClose(c.f32(ph, n), ref.swigluFwd(G, U), 1e-5, `swiglu h ${n}`);
        const pdh = c.put(dH),
          pdg = c.zeros(n),
          pdu = c.zeros(n);
        k.swigluBackward(pdg, pdu, pdh, pg, pu, n);
        const g = ref.swigluBwd(dH, G, U);
        assertClose(c.f32(pdg, n), g.dG, 1e-5, `swiglu dg ${n}`);
        assertClose(c.f32(pdu, n), g.dU, 1e-5, `swiglu du ${n}`);
        c.arena.release(mark);
      }
      const n = 9,
        G = ref.randn(1, n),
        U = ref.randn(2, n),
        R = ref.randn(3, n);
      const mark = c.arena.mark();
      const pg = c.zeros(n),
        pu = c.zeros(n),
        ph = c.zeros(n),
        pR = c.put(R);
      const fwd = (g: Float32Array, u: Float32Array) => {
        c.arena.f32(pg, n).set(g);
        c.arena.f32(pu, n).set(u);
        k.swigluForward(ph, pg, pu, n);
        return project(c.arena.f32(ph, n), R);
      };
      fwd(G, U);
      const pdg = c.zeros(n),
        pdu = c.zeros(n);
      k.swigluBackward(pdg, pdu, pR, pg, pu, n);
      checkGrad((g) => fwd(g, U), G, c.f32(pdg, n), 'swiglu dG');
      checkGrad((u) => fwd(G, u), U, c.f32(pdu, n), 'swiglu dU');
      c.arena.release(mark);
    });

    it('exp-based kernels stay exact at the edges: large and masked inputs', () => {
      const n = 8;
      const G = Float32Array.from([-200, -88.5, -30, 0, 1e-8, 30, 88.5, 200]),
        U = new Float32Array(n).fill(1);
      const mark = c.arena.mark();
      const ph = c.zeros(n);
      k.swigluForward(ph, c.put(G), c.put(U), n);
      const got = c.f32(ph, n),
        want = ref.swigluFwd(G, U);
      for (let i = 0; i < n; i++)
        assert.ok(
          Number.isFinite(got[i]) && Math.abs(got[i] - want[i]) <= 1e-6 * Math.max(1, Math.abs(want[i])),
          `silu(${G[i]}) = ${got[i]}, want ${want[i]}`,
        );
      c.arena.release(mark);
    });

    it('causal attention forward matches the reference, with grouped-query heads and odd sizes', () => {
      const cases = [
        [1, 1, 1, 1, 1],
        [1, 5, 2, 2, 4],
        [2, 7, 4, 2, 6],
        [1, 70, 4, 1, 8],
        [2, 131, 6, 3, 16],
        [1, 65, 2, 2, 64],
      ];
      for (const [B, S, H, KVH, D] of cases) {
        const mark = c.arena.mark();
        const Q = ref.randn(S + 1, B * S * H * D),
          K = ref.randn(S + 2, B * S * KVH * D),
          V = ref.randn(S + 3, B * S * KVH * D);
        const po = c.zeros(Q.length),
          plse = c.zeros(B * H * S);
        k.attentionForward(po, plse, c.put(Q), c.put(K), c.put(V), B, S, H, KVH, D);
        const want = ref.attentionFwd(Q, K, V, B, S, H, KVH, D);
        const tag = `B${B} S${S} H${H} KVH${KVH} D${D}`;
        assertClose(c.f32(po, Q.length), want.O, 2e-5, `attention o ${tag}`);
        assertClose(c.f32(plse, B * H * S), want.lse, 2e-5, `attention lse ${tag}`);
        c.arena.release(mark);
      }
    });

    it('causal attention backward matches the reference and finite differences', () => {
      const cases = [
        [1, 1, 1, 1, 1],
        [1, 5, 2, 2, 4],
        [2, 7, 4, 2, 6],
        [1, 70, 4, 1, 8],
        [2, 131, 6, 3, 16],
      ];
      for (const [B, S, H, KVH, D] of cases) {
        const mark = c.arena.mark();
        const Q = ref.randn(S + 1, B * S * H * D),
          K = ref.randn(S + 2, B * S * KVH * D),
          V = ref.randn(S + 3, B * S * KVH * D);
        const dO = ref.randn(S + 4, Q.length);
        const pq = c.put(Q),
          pk = c.put(K),
          pv = c.put(V),
          po = c.zeros(Q.length),
          plse = c.zeros(B * H * S);
        k.attentionForward(po, plse, pq, pk, pv, B, S, H, KVH, D);
        const pdq = c.zeros(Q.length),
          pdk = c.zeros(K.length),
          pdv = c.zeros(V.length);
        k.attentionBackward(pdq, pdk, pdv, c.put(dO), pq, pk, pv, po, plse, B, S, H, KVH, D);
        const want = ref.attentionBwd(dO, Q, K, V, B, S, H, KVH, D);
        const tag = `B${B} S${S} H${H} KVH${KVH} D${D}`;
        assertClose(c.f32(pdq, Q.length), want.dQ, 5e-5, `attention dq ${tag}`);
        assertClose(c.f32(pdk, K.length), want.dK, 5e-5, `attention dk ${tag}`);
        assertClose(c.f32(pdv, V.length), want.dV, 5e-5, `attention dv ${tag}`);
        c.arena.release(mark);
      }
      const [B, S, H, KVH, D] = [1, 4, 2, 1, 4];
      const Q = ref.randn(1, B * S * H * D),
        K = ref.randn(2, B * S * KVH * D),
        V = ref.randn(3, B * S * KVH * D),
        R = ref.randn(4, Q.length);
      const mark = c.arena.mark();
      const pq = c.zeros(Q.length),
        pk = c.zeros(K.length),
        pv = c.zeros(V.length),
        po = c.zeros(Q.length),
        plse = c.zeros(B * H * S);
      const fwd = (q: Float32Array, kk: Float32Array, v: Float32Array) => {
        c.arena.f32(pq, q.length).set(q);
        c.arena.f32(pk, kk.length).set(kk);
        c.arena.f32(pv, v.length).set(v);
        k.attentionForward(po, plse, pq, pk, pv, B, S, H, KVH, D);
        return project(c.arena.f32(po, Q.length), R);
      };
      fwd(Q, K, V);
      const pdq = c.zeros(Q.length),
        pdk = c.zeros(K.length),
        pdv = c.zeros(V.length);
      k.attentionBackward(pdq, pdk, pdv, c.put(R), pq, pk, pv, po, plse, B, S, H, KVH, D);
      checkGrad((q) => fwd(q, K, V), Q, c.f32(pdq, Q.length), 'attention dQ');
      checkGrad((kk) => fwd(Q, kk, V), K, c.f32(pdk, K.length), 'attention dK');
      checkGrad((v) => fwd(Q, K, v), V, c.f32(pdv, V.length), 'attention dV');
      c.arena.release(mark);
    });

    it('decode attention over a KV cache matches the reference', () => {
      for (const [B, H, KVH, D, Tmax, T] of [
        [1, 1, 1, 1, 1, 1],
        [2, 4, 2, 6, 9, 5],
        [1, 6, 3, 64, 300, 300],
        [3, 2, 2, 7, 20, 13],
      ]) {
        const mark = c.arena.mark();
        const q = ref.randn(T, B * H * D),
          Kc = ref.randn(T + 1, B * Tmax * KVH * D),
          Vc = ref.randn(T + 2, B * Tmax * KVH * D);
        const po = c.zeros(q.length);
        k.attentionDecode(po, c.put(q), c.put(Kc), c.put(Vc), B, H, KVH, D, Tmax, T);
        assertClose(
          c.f32(po, q.length),
          ref.attentionDecode(q, Kc, Vc, B, H, KVH, D, Tmax, T),
          2e-5,
          `decode B${B} H${H} KVH${KVH} D${D} T${T}/${Tmax}`,
        );
        c.arena.release(mark);
      }
    });

    it('decode attention of many sequences at once gives each row the bits of the row alone and matches the reference', () => {
      const [H, KVH, D] = [4, 2, 8],
        lengths = [1, 5, 300, 13, 4];
      const mark = c.arena.mark();
      const rows = lengths.map((T, i) => {
        const Tmax = T + i; // caches of different capacities, each filled to T positions
        const q = ref.randn(10 + i, H * D),
          Kc = ref.randn(20 + i, Tmax * KVH * D),
          Vc = ref.randn(30 + i, Tmax * KVH * D);
        return { T, Tmax, q, Kc, Vc, pq: c.put(q), pk: c.put(Kc), pv: c.put(Vc), po: c.zeros(H * D) };
      });
      const tab = c.arena.alloc(rows.length * DECODE_ROW_INTS * 4),
        table = c.arena.i32(tab, rows.length * DECODE_ROW_INTS);
      rows.forEach((r, i) => table.set([r.pq, r.po, r.pk, r.pv, r.T], i * DECODE_ROW_INTS));
      k.attentionDecodeRows(tab, table, H, KVH, D);
      for (const r of rows) {
        const alone = c.zeros(H * D);
        k.attentionDecode(alone, r.pq, r.pk, r.pv, 1, H, KVH, D, r.Tmax, r.T);
        assert.deepEqual(
          c.f32(r.po, H * D),
          c.f32(alone, H * D),
          `row of ${r.T} positions: not the bits of the row alone`,
        );
        assertClose(
          c.f32(r.po, H * D),
          ref.attentionDecode(r.q, r.Kc, r.Vc, 1, H, KVH, D, r.Tmax, r.T),
          2e-5,
          `rows T${r.T}`,
        );
      }
      table[2 * DECODE_ROW_INTS + 4] = 0;
      assert.throws(() => k.attentionDecodeRows(tab, table, H, KVH, D), /row 2 over 0 positions/);
      assert.throws(() => k.attentionDecodeRows(tab, table.subarray(0, 7), H, KVH, D), /7 int32 is not rows of 5/);
      assert.throws(() => k.attentionDecodeRows(tab, table.slice(), H, KVH, D), /the table checked is at byte 0/);
      c.arena.release(mark);
    });

    it('cross-entropy forward, and forward+backward in place, match the reference, ignored rows included', () => {
      for (const [rows, V] of [
        [1, 1],
        [3, 7],
        [6, 3000],
        [4, 33],
      ]) {
        const mark = c.arena.mark();
        const logits = ref.randn(rows * V, rows * V).map((v) => 4 * v);
        const targets = Int32Array.from({ length: rows }, (_, r) => (r % 3 === 1 ? -100 : (r * 7919) % V));
        const pl = c.put(logits),
          pt = c.put(targets),
          ploss = c.zeros(rows),
          plse = c.zeros(rows);
        k.crossEntropyForward(ploss, plse, pl, pt, rows, V);
        const want = ref.crossEntropyFwd(logits, targets, rows, V);
        assertClose(c.f32(ploss, rows), want.loss, 1e-5, `ce loss ${rows}x${V}`, 1e-6);
        assertClose(c.f32(plse, rows), want.lse, 1e-5, `ce lse ${rows}x${V}`);
        // forward and backward at once, in place over the logits
        const ploss2 = c.zeros(rows),
          plse2 = c.zeros(rows);
        k.crossEntropyForwardBackward(ploss2, plse2, pl, pt, rows, V, 0.25);
        assertClose(c.f32(ploss2, rows), want.loss, 1e-5, `ce fused loss ${rows}x${V}`, 1e-6);
        assertClose(c.f32(plse2, rows), want.lse, 1e-5, `ce fused lse ${rows}x${V}`);
        assertClose(
          c.f32(pl, rows * V),
          ref.crossEntropyBwd(logits, targets, rows, V, 0.25),
          1e-5,
          `ce dlogits ${rows}x${V}`,
        );
        c.arena.release(mark);
      }
      const [rows, V] = [3, 5];
      const logits = ref.randn(9, rows * V),
        targets = Int32Array.from([2, -100, 4]);
      const mark = c.arena.mark();
      const pl = c.zeros(rows * V),
        pt = c.put(targets),
        ploss = c.zeros(rows),
        plse = c.zeros(rows);
      const fwd = (x: Float32Array) => {
        c.arena.f32(pl, rows * V).set(x);
        k.crossEntropyForward(ploss, plse, pl, pt, rows, V);
        return project(c.arena.f32(ploss, rows), [1, 1, 1]);
      };
      c.arena.f32(pl, rows * V).set(logits);
      k.crossEntropyForwardBackward(ploss, plse, pl, pt, rows, V, 1);
      checkGrad(fwd, logits, c.f32(pl, rows * V), 'ce dlogits');
      c.arena.release(mark);
    });

    it('embedding gather (f32, bf16, int8 tables) and scatter-add match the reference', () => {
      const [vocab, dim, n] = [11, 13, 9];
      const table = ref.randn(1, vocab * dim),
        ids = Int32Array.from([3, 0, 10, 3, 7, 7, 7, 1, 9]),
        dOut = ref.randn(2, n * dim);
      const mark = c.arena.mark();
      const bf = ref.f32ToBf16(table),
        { q, scale } = ref.quantizeRowsInt8(table, vocab, dim);
      const pid = c.put(ids),
        ps = c.put(scale);
      for (const [wt, stored, deq] of [
        [WeightType.F32, table, table],
        [WeightType.BF16, bf, ref.bf16ToF32(bf)],
        [WeightType.I8, q, ref.dequantInt8(q, scale, vocab, dim)],
      ] as const) {
        const out = c.zeros(n * dim);
        k.embeddingGather(out, c.put(stored), ps, pid, n, dim, wt);
        assertClose(c.f32(out, n * dim), ref.embeddingGather(deq, ids, dim), 0, `gather wt${wt}`);
      }
      // scatter-add is the gradient of gather: check it against finite differences of gather
      const R = ref.randn(4, n * dim),
        pR = c.put(R),
        pt = c.zeros(vocab * dim),
        pout = c.zeros(n * dim);
      const gather = (t: Float32Array) => {
        c.arena.f32(pt, t.length).set(t);
        k.embeddingGather(pout, pt, 0, pid, n, dim, WeightType.F32);
        return project(c.arena.f32(pout, n * dim), R);
      };
      const pg = c.zeros(vocab * dim);
      k.embeddingScatterAdd(pg, pR, pid, n, dim);
      checkGrad(gather, table, c.f32(pg, vocab * dim), 'embedding dTable');
      const dTable = ref.randn(3, vocab * dim),
        pdt = c.put(dTable);
      k.embeddingScatterAdd(pdt, c.put(dOut), pid, n, dim);
      ref.embeddingScatterAdd(dTable, dOut, ids, dim);
      assertClose(c.f32(pdt, vocab * dim), dTable, 1e-6, 'scatter-add');
      c.arena.release(mark);
    });

    it('AdamW (with and without bias correction) and the vector helpers match the reference', () => {
      for (const n of [1, 5, 64, 1031]) {
        const mark = c.arena.mark();
        const p = ref.randn(n, n),
          g = ref.randn(n + 1, n),
          m = ref.randn(n + 2, n).map((v) => 0.1 * v),
          v = ref.uniform(n + 3, n, 0, 0.2);
        for (const s of [
          { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1, bc1: 1 - 0.9 ** 3, bc2: 1 - 0.999 ** 3 },
          { lr: 1e-5, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, bc1: 1, bc2: 1 },
        ]) {
          const pp = c.put(p),
            pg = c.put(g),
            pm = c.put(m),
            pv = c.put(v);
          k.adamw(pp, pg, pm, pv, n, s);
          const [rp, rm, rv] = [Float32Array.from(p), Float32Array.from(m), Float32Array.from(v)];
          ref.adamwStep(rp, g, rm, rv, s);
          assertClose(c.f32(pp, n), rp, 1e-6, `adamw p ${n}`);
          assertClose(c.f32(pm, n), rm, 1e-6, `adamw m ${n}`);
          assertClose(c.f32(pv, n), rv, 1e-6, `adamw v ${n}`);
        }
        const px = c.put(g);
        assert.ok(Math.abs(k.sumSquares(px, n) - ref.sumSquares(g)) <= 1e-5 * ref.sumSquares(g), `sumsq ${n}`);
        k.scale(px, n, 0.5);
        const half = Float32Array.from(g);
        ref.scaleInPlace(half, 0.5);
        assertClose(c.f32(px, n), half, 0, `scale ${n}`);
        const py = c.put(p);
        k.axpy(py, px, n, -3);
        const y = Float32Array.from(p);
        ref.axpy(y, half, -3);
        assertClose(c.f32(py, n), y, 1e-6, `axpy ${n}`);
        const before = c.f32(py, n);
        k.multiply(py, py, px, n);
        assertClose(
          c.f32(py, n),
          before.map((v, i) => f32(v * half[i])),
          0,
          `multiply ${n}`,
        );
        c.arena.release(mark);
      }
    });

    it('int8 row quantization and bf16 conversion match the reference bit for bit', () => {
      const [rows, cols] = [5, 23];
      const W = ref.randn(4, rows * cols);
      W.fill(0, 2 * cols, 3 * cols); // an all-zero row
      W[cols] = 2.5;
      W[cols + 1] = -1.25; // exact ties after scaling are rare; keep varied values
      const mark = c.arena.mark();
      const pq = c.arena.alloc(rows * cols),
        ps = c.zeros(rows);
      k.quantizeRowsInt8(pq, ps, c.put(W), rows, cols);
      const want = ref.quantizeRowsInt8(W, rows, cols);
      assert.deepEqual(Array.from(c.arena.i8(pq, rows * cols)), Array.from(want.q), 'int8 values');
      assert.deepEqual(Array.from(c.f32(ps, rows)), Array.from(want.scale), 'int8 scales');
      const specials = Float32Array.from([
        1.00390625,
        1.01171875,
        -0,
        Infinity,
        -Infinity,
        NaN,
        3.4e38,
        1e-40,
        ...ref.randn(5, 33),
      ]);
      const pb = c.arena.alloc(specials.length * 2);
      k.f32ToBf16(pb, c.put(specials), specials.length);
      const bits = Array.from(c.arena.u16(pb, specials.length));
      assert.deepEqual(bits, Array.from(ref.f32ToBf16(specials)), 'bf16 bits');
      const back = c.zeros(specials.length);
      k.bf16ToF32(back, pb, specials.length);
      assert.deepEqual(
        Array.from(c.f32(back, specials.length)),
        Array.from(ref.bf16ToF32(Uint16Array.from(bits))),
        'bf16 to f32',
      );
      c.arena.release(mark);
    });

    it('rejects attention shapes it cannot run with a clear error', () => {
      assert.throws(() => k.attentionForward(0, 0, 0, 0, 0, 1, 1, 3, 2, 4), /3 query heads cannot share 2 kv heads/);
      assert.throws(() => k.attentionForward(0, 0, 0, 0, 0, 1, 1, 1, 1, 512), /head dimension 512/);
      assert.throws(() => k.ropeTable(0, 1, 3, 10000), /even head dimension/);
    });

    it('the FMA peak loop and the copy kernel do real work', () => {
      // Ten chains of a ← a·x + y from a = 1 (x, y as f32): lane 0 of their sum, by hand in f64.
      const x = f32(0.9999),
        y = f32(0.00001);
      let a = 1;
      for (let i = 0; i < 1000; i++) a = a * x + y;
      assert.ok(Math.abs(k.fmaPeak(1000) - 10 * a) <= 1e-4 * 10 * a, 'the peak loop computes its chains');
      const src = ref.randn(1, 64),
        ps = c.put(src),
        pd = c.zeros(64);
      k.copyBytes(pd, ps, 256);
      assert.deepEqual(Array.from(c.f32(pd, 64)), Array.from(src.map(f32)));
    });
  });
}
