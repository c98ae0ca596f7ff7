// Self-checks of the reference kernels: backward passes against finite differences of their
// forward, hand-computed cases, and identities between kernels. Needs nothing but kernels.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  adamwStep,
  attentionBwd,
  attentionDecode,
  attentionFwd,
  axpy,
  bf16ToF32,
  crossEntropyBwd,
  crossEntropyFwd,
  dequantInt8,
  embeddingGather,
  embeddingScatterAdd,
  f32ToBf16,
  finiteDiffGrad,
  maskedMeanLoss,
  matmulDyTX,
  matmulDyW,
  matmulXWt,
  quantizeRowsInt8,
  randn,
  rmsnormBwd,
  rmsnormFwd,
  ropeBwd,
  ropeFwd,
  scaleInPlace,
  sumSquares,
  swigluBwd,
  swigluFwd,
  uniform,
} from './kernels.ts';

const f32 = Math.fround;
const toF32 = (x: Float64Array): Float32Array => Float32Array.from(x);

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let acc = 0;
  for (let i = 0; i < a.length; i++) acc += a[i] * b[i];
  return acc;
}

/** Elementwise |actual − expected| ≤ atol + rtol·|expected|. */
function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  atol: number,
  rtol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    const err = Math.abs(actual[i] - expected[i]);
    assert.ok(err <= atol + rtol * Math.abs(expected[i]), `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}

/** The analytic gradient matches central differences (h = 1e-2 keeps f32 rounding noise small). */
function checkGrad(what: string, analytic: Float32Array, f: (x: Float64Array) => number, x: Float32Array): void {
  const numeric = finiteDiffGrad(f, Float64Array.from(x), 1e-2);
  assertClose(analytic, numeric, 2e-3, 2e-3, what);
}

test('matmul: hand-computed 2x2', () => {
  const X = new Float32Array([1, 2, 3, 4]);
  const W = new Float32Array([5, 6, 7, 8]);
  assert.deepEqual([...matmulXWt(X, W, 2, 2, 2)], [17, 23, 39, 53]);
  assert.deepEqual([...matmulDyW(X, W, 2, 2, 2)], [19, 22, 43, 50]);
  assert.deepEqual([...matmulDyTX(X, W, 2, 2, 2)], [26, 30, 38, 44]);
});

test('matmul: backward against finite differences', () => {
  const [M, N, K] = [3, 4, 5];
  const X = randn(1, M * K);
  const W = randn(2, N * K);
  const R = randn(3, M * N);
  checkGrad('dX', matmulDyW(R, W, M, N, K), (x) => dot(R, matmulXWt(toF32(x), W, M, N, K)), X);
  checkGrad('dW', matmulDyTX(R, X, M, N, K), (w) => dot(R, matmulXWt(X, toF32(w), M, N, K)), W);
});

test('bf16: round to nearest even, NaN and infinity', () => {
  assert.deepEqual([...f32ToBf16(new Float32Array([1.00390625, 1.01171875, -1.01171875]))], [0x3f80, 0x3f82, 0xbf82]);
  assert.deepEqual([...f32ToBf16(new Float32Array([Infinity, -Infinity, 0, -0]))], [0x7f80, 0xff80, 0, 0x8000]);
  const nans = new Float32Array(new Uint32Array([0x7f800001, 0xffc00001]).buffer);
  assert.deepEqual([...f32ToBf16(nans)], [0x7fc0, 0xffc0]);
  assert.deepEqual([...bf16ToF32(new Uint16Array([0x3f80, 0x3f82, 0xc040]))], [1, 1.015625, -3]);
});

test('int8: per-row quantization of known values, ties to even', () => {
  const W = new Float32Array([127, -3.5, 2.5, 0.4, -127, 1.5, 0, 0, 0, 0, 0, 0, 254, 5, -3, 1, 0, -254]);
  const { q, scale } = quantizeRowsInt8(W, 3, 6);
  assert.deepEqual([...scale], [1, 0, 2]);
  assert.deepEqual([...q], [127, -4, 2, 0, -127, 2, 0, 0, 0, 0, 0, 0, 127, 2, -2, 0, 0, -127]);
  assert.deepEqual(
    [...dequantInt8(q, scale, 3, 6)],
    [127, -4, 2, 0, -127, 2, 0, 0, 0, 0, 0, 0, 254, 4, -4, 0, 0, -254],
  );
  const { scale: s } = quantizeRowsInt8(new Float32Array([0.5, -1.27]), 1, 2);
  assert.equal(s[0], f32(f32(1.27) / 127));
});

test('rmsnorm: forward by hand and backward against finite differences', () => {
  const { Y, rstd } = rmsnormFwd(new Float32Array([3, 4]), new Float32Array([1, 2]), 1, 2, 0);
  assertClose(rstd, [1 / Math.sqrt(12.5)], 0, 1e-7, 'rstd');
  assertClose(Y, [3 / Math.sqrt(12.5), 8 / Math.sqrt(12.5)], 0, 1e-6, 'Y');

  const [rows, dim, eps] = [3, 6, 1e-5];
  const X = randn(4, rows * dim);
  const W = uniform(5, dim, 0.5, 1.5);
  const R = randn(6, rows * dim);
  const { dX, dW } = rmsnormBwd(R, X, W, rmsnormFwd(X, W, rows, dim, eps).rstd, rows, dim);
  checkGrad('dX', dX, (x) => dot(R, rmsnormFwd(toF32(x), W, rows, dim, eps).Y), X);
  checkGrad('dW', dW, (w) => dot(R, rmsnormFwd(X, toF32(w), rows, dim, eps).Y), W);
});

test('rope: position 1, D 2, theta 10000 rotates by 1 radian', () => {
  // One row at offset 1, two heads: x = (1, 0) and x = (0, 1).
  const Y = ropeFwd(new Float32Array([1, 0, 0, 1]), 1, 1, 2, 2, 10000, 1);
  const [c, s] = [f32(Math.cos(1)), f32(Math.sin(1))];
  assert.deepEqual([...Y], [c, s, -s, c]);
  // Position 0 is the identity.
  assert.deepEqual([...ropeFwd(new Float32Array([0.25, -2]), 1, 1, 1, 2, 10000, 0)], [0.25, -2]);
});

test('rope: backward against finite differences', () => {
  const [B, S, H, D, theta, offset] = [2, 3, 2, 4, 10000, 5];
  const X = randn(7, B * S * H * D);
  const R = randn(8, X.length);
  checkGrad(
    'dX',
    ropeBwd(R, B, S, H, D, theta, offset),
    (x) => dot(R, ropeFwd(toF32(x), B, S, H, D, theta, offset)),
    X,
  );
});

test('swiglu: backward against finite differences', () => {
  const G = randn(9, 10);
  const U = randn(10, 10);
  const R = randn(11, 10);
  const { dG, dU } = swigluBwd(R, G, U);
  checkGrad('dG', dG, (g) => dot(R, swigluFwd(toF32(g), U)), G);
  checkGrad('dU', dU, (u) => dot(R, swigluFwd(G, toF32(u))), U);
});

/** Repeat each kv head of X[B,S,KVH,D] H/KVH times, giving [B,S,H,D]. */
function repeatKv(X: Float32Array, B: number, S: number, H: number, KVH: number, D: number): Float32Array {
  const out = new Float32Array(B * S * H * D);
  for (let r = 0; r < B * S; r++) {
    for (let h = 0; h < H; h++) {
      const src = (r * KVH + Math.floor(h / (H / KVH))) * D;
      out.set(X.subarray(src, src + D), (r * H + h) * D);
    }
  }
  return out;
}

test('attention: H == KVH is the per-head causal softmax formula', () => {
  const [B, S, H, D] = [2, 4, 2, 3];
  const Q = randn(12, B * S * H * D);
  const K = randn(13, Q.length);
  const V = randn(14, Q.length);
  const { O, lse } = attentionFwd(Q, K, V, B, S, H, H, D);
  const at = (b: number, s: number, h: number): number => ((b * S + s) * H + h) * D;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < S; i++) {
        const scores: number[] = [];
        for (let j = 0; j <= i; j++)
          scores.push(
            dot(Q.subarray(at(b, i, h), at(b, i, h) + D), K.subarray(at(b, j, h), at(b, j, h) + D)) / Math.sqrt(D),
          );
        const sum = scores.reduce((acc, x) => acc + Math.exp(x), 0);
        assertClose([lse[(b * H + h) * S + i]], [Math.log(sum)], 1e-6, 1e-6, 'lse');
        for (let d = 0; d < D; d++) {
          const o = scores.reduce((acc, x, j) => acc + (Math.exp(x) / sum) * V[at(b, j, h) + d], 0);
          assertClose([O[at(b, i, h) + d]], [o], 1e-6, 1e-6, 'O');
        }
      }
    }
  }
});

test('attention: grouped-query heads equal full heads with repeated K and V', () => {
  const [B, S, H, KVH, D] = [2, 3, 4, 2, 4];
  const Q = randn(15, B * S * H * D);
  const K = randn(16, B * S * KVH * D);
  const V = randn(17, B * S * KVH * D);
  const gqa = attentionFwd(Q, K, V, B, S, H, KVH, D);
  const full = attentionFwd(Q, repeatKv(K, B, S, H, KVH, D), repeatKv(V, B, S, H, KVH, D), B, S, H, H, D);
  assert.deepEqual(gqa, full);
});

test('attention: backward against finite differences (GQA)', () => {
  const [B, S, H, KVH, D] = [2, 3, 4, 2, 4];
  const Q = randn(18, B * S * H * D);
  const K = randn(19, B * S * KVH * D);
  const V = randn(20, B * S * KVH * D);
  const R = randn(21, Q.length);
  const { dQ, dK, dV } = attentionBwd(R, Q, K, V, B, S, H, KVH, D);
  checkGrad('dQ', dQ, (q) => dot(R, attentionFwd(toF32(q), K, V, B, S, H, KVH, D).O), Q);
  checkGrad('dK', dK, (k) => dot(R, attentionFwd(Q, toF32(k), V, B, S, H, KVH, D).O), K);
  checkGrad('dV', dV, (v) => dot(R, attentionFwd(Q, K, toF32(v), B, S, H, KVH, D).O), V);
});

test('attention: decode equals the last row of the causal forward', () => {
  const [B, S, H, KVH, D, Tmax] = [2, 4, 4, 2, 4, 6];
  const Q = randn(22, B * S * H * D);
  const K = randn(23, B * S * KVH * D);
  const V = randn(24, B * S * KVH * D);
  const { O } = attentionFwd(Q, K, V, B, S, H, KVH, D);
  // Caches hold the S keys and values, then junk past T that must be ignored.
  const Kc = new Float32Array(B * Tmax * KVH * D).fill(1e3);
  const Vc = new Float32Array(B * Tmax * KVH * D).fill(1e3);
  const q = new Float32Array(B * H * D);
  const last = new Float32Array(B * H * D);
  for (let b = 0; b < B; b++) {
    Kc.set(K.subarray(b * S * KVH * D, (b + 1) * S * KVH * D), b * Tmax * KVH * D);
    Vc.set(V.subarray(b * S * KVH * D, (b + 1) * S * KVH * D), b * Tmax * KVH * D);
    const row = (b * S + S - 1) * H * D;
    q.set(Q.subarray(row, row + H * D), b * H * D);
    last.set(O.subarray(row, row + H * D), b * H * D);
  }
  assertClose(attentionDecode(q, Kc, Vc, B, H, KVH, D, Tmax, S), last, 1e-6, 1e-6, 'o');
});

test('cross-entropy: hand case, ignored rows and backward against finite differences', () => {
  const { loss, lse } = crossEntropyFwd(new Float32Array([0, 0, 1, 2]), new Int32Array([0, -100]), 2, 2);
  assertClose(loss, [Math.LN2, 0], 1e-7, 0, 'loss');
  assertClose(lse, [Math.LN2, 2 + Math.log1p(Math.exp(-1))], 1e-6, 0, 'lse');

  const [rows, V, scale] = [3, 5, 0.5];
  const logits = randn(25, rows * V);
  const targets = new Int32Array([2, -1, 4]);
  const dlogits = crossEntropyBwd(logits, targets, rows, V, scale);
  assert.deepEqual([...dlogits.subarray(V, 2 * V)], [0, 0, 0, 0, 0]);
  const f = (x: Float64Array): number => scale * dot(crossEntropyFwd(toF32(x), targets, rows, V).loss, [1, 1, 1]);
  checkGrad('dlogits', dlogits, f, logits);
});

test('masked mean loss: pad tokens and ignored labels leave the mean', () => {
  // tokens = [1, 1, 0, 1], targets = [1, 0, 1, -100]: only the first two positions count.
  const inputIds = new Int32Array([1, 1, 0, 1, 1]);
  const labels = new Int32Array([-100, 1, 0, 1, -100]);
  const row = [0, f32(Math.log(3))];
  const logits = new Float32Array([...row, ...row, ...row, ...row]);
  const lse = Math.log(1 + Math.exp(row[1]));
  const expected = (lse - row[1] + lse) / 2;
  assertClose([maskedMeanLoss(inputIds, labels, logits, 1, 5, 2)], [expected], 1e-6, 0, 'loss');
  // Nothing counted gives 0, not NaN.
  assert.equal(maskedMeanLoss(new Int32Array([0, 0]), new Int32Array([1, 1]), new Float32Array(2), 1, 2, 2), 0);
});

test('embedding: gather by hand and scatter-add against finite differences', () => {
  const dim = 3;
  const table = randn(26, 4 * dim);
  const ids = new Int32Array([1, 3, 1, 0]);
  const out = embeddingGather(table, ids, dim);
  assert.deepEqual([...out.subarray(3, 6)], [...table.subarray(9, 12)]);
  const R = randn(27, ids.length * dim);
  const dTable = new Float32Array(table.length);
  embeddingScatterAdd(dTable, R, ids, dim);
  assert.deepEqual([...dTable.subarray(6, 9)], [0, 0, 0]);
  checkGrad('dTable', dTable, (t) => dot(R, embeddingGather(toF32(t), ids, dim)), table);
});

test('adamw: one bias-corrected step by hand', () => {
  const p = new Float32Array([1, 2]);
  const g = new Float32Array([1, -2]);
  const m = new Float32Array(2);
  const v = new Float32Array(2);
  adamwStep(p, g, m, v, { lr: 0.1, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, bc1: 0.1, bc2: 0.001 });
  assertClose(m, [0.1, -0.2], 1e-7, 0, 'm');
  assertClose(v, [0.001, 0.004], 1e-9, 0, 'v');
  // update = m̂/(sqrt(v̂) + eps) + wd·p = [1 + 0.01, −1 + 0.02].
  assertClose(p, [1 - 0.1 * 1.01, 2 - 0.1 * -0.98], 1e-6, 0, 'p');
});

test('vector helpers', () => {
  const x = new Float32Array([1, -2, 3]);
  assert.equal(sumSquares(x), 14);
  const y = new Float32Array([1, 1, 1]);
  axpy(y, x, 2);
  assert.deepEqual([...y], [3, -3, 7]);
  scaleInPlace(y, 0.5);
  assert.deepEqual([...y], [1.5, -1.5, 3.5]);
  assertClose(
    finiteDiffGrad((z) => z[0] ** 2 + 3 * z[1], new Float64Array([2, 5])),
    [4, 3],
    1e-6,
    0,
    'finiteDiffGrad',
  );
});

test('random: deterministic, with the right moments', () => {
  assert.deepEqual(randn(42, 7), randn(42, 7));
  assert.notDeepEqual(randn(42, 7), randn(43, 7));
  const z = randn(1, 20000);
  const mean = z.reduce((a, b) => a + b, 0) / z.length;
  const variance = sumSquares(z) / z.length - mean * mean;
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `mean ${mean}, variance ${variance}`);
  const u = uniform(2, 1000, -0.5, 0.25);
  assert.ok(u.every((x) => x >= -0.5 && x < 0.25));
  assert.deepEqual(u, uniform(2, 1000, -0.5, 0.25));
});
