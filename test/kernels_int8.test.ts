/**
 * Generation's integer products over Q8_0 and Q4_0 weights (assembly/qact.ts) against an
 * oracle written here from the formula: x rounded to int8 per block of 32 (scale max|x|/127,
 * nearest with ties to even), each block's exact integer sum, then the f32 accumulation
 * acc = isum·fl(dw·dx) + acc block by block. The plain build rounds the product and the sum
 * apart, so it must give the oracle's bits; the relaxed build fuses them (FMA), so it must be
 * within an ulp or two. Both must also stay within the rounding bound of 8-bit activations of the
 * f32 product on the dequantized weights, and give a row the same bits alone or among others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from '../src/checkpoint/gguf/blocks.ts';
import { halfToFloat } from '../src/checkpoint/dtypes.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { Rng } from '../src/runtime/random.ts';
import { coreKinds, testCore } from './helpers.ts';

const f = Math.fround;

function normal(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  new Rng(seed).fillNormal(out, 1);
  return out;
}

/** Nearest integer, ties to even (f32x4.nearest). */
function nearestEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The quants (ints) and scale of weight block `b` of a row of Q8_0 or Q4_0 blocks. */
function weightBlock(blocks: Uint8Array, at: number, q4: boolean): { d: number; q: number[] } {
  const d = halfToFloat(blocks[at] | (blocks[at + 1] << 8)),
    q: number[] = [];
  if (q4) {
    for (let j = 0; j < 16; j++) q[j] = blocks[at + 2 + j] & 15;
    for (let j = 0; j < 16; j++) q[16 + j] = blocks[at + 2 + j] >> 4;
  } else for (let j = 0; j < 32; j++) q[j] = (blocks[at + 2 + j] << 24) >> 24;
  return { d, q };
}

/** The oracle's y[M,N] for x[M,K] against N rows of blocks; `fused` as the relaxed build's FMA. */
function oracle(
  x: Float32Array,
  blocks: Uint8Array,
  M: number,
  N: number,
  K: number,
  q4: boolean,
  fused: boolean,
): Float32Array {
  const nb = K / 32,
    bytes = q4 ? 18 : 34,
    y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    const xq: number[][] = [],
      dx: number[] = [];
    for (let b = 0; b < nb; b++) {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[m * K + b * 32 + j]));
      const inv = amax === 0 ? 0 : f(127 / amax);
      dx[b] = f(amax / 127);
      xq[b] = [];
      for (let j = 0; j < 32; j++)
        xq[b][j] = Math.max(-127, Math.min(127, nearestEven(f(x[m * K + b * 32 + j] * inv))));
    }
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let b = 0; b < nb; b++) {
        const w = weightBlock(blocks, (n * nb + b) * bytes, q4);
        let isum = 0;
        for (let j = 0; j < 32; j++) isum += (q4 ? w.q[j] - 8 : w.q[j]) * xq[b][j];
        const prod = f(w.d * dx[b]);
        acc = fused ? f(isum * prod + acc) : f(f(isum * prod) + acc);
      }
      y[m * N + n] = acc;
    }
  }
  return y;
}

const SHAPES: [number, number, number][] = [
  [1, 37, 96],
  [3, 16, 32],
  [4, 9, 64],
  [7, 50, 128],
  [1, 256, 768],
  [130, 20, 256],
];

test('int8-activation products: the oracle formula, the 8-bit rounding bound, rows alone and batched the same, accumulate', async () => {
  for (const kind of await coreKinds()) {
    const core = await testCore(kind),
      k = core.kernels;
    for (const [name, wt, quantize] of [
      ['Q8_0', WeightType.Q8_0, quantizeQ8_0],
      ['Q4_0', WeightType.Q4_0, quantizeQ4_0],
    ] as const) {
      for (const [M, N, K] of SHAPES) {
        const what = `${kind} ${name} M ${M} N ${N} K ${K}`;
        const blocks = quantize(normal(N * K, N + K)),
          wd = dequantize(name, blocks, N * K, name),
          x = normal(M * K, M * 31 + K);
        const wq = core.arena.alloc(blocks.length + 4);
        core.arena.u8(wq, blocks.length).set(blocks);
        const xp = core.put(x),
          y = core.zeros(M * N),
          alone = core.zeros(M * N);
        k.matmulXWtInt8(y, xp, wq, M, N, K, wt);
        const got = core.f32(y, M * N);
        const want = oracle(x, blocks, M, N, K, name === 'Q4_0', kind === 'relaxed');
        if (kind === 'simd') assert.deepEqual(got, want, `${what}: the oracle's bits`);
        else
          for (let i = 0; i < got.length; i++)
            assert.ok(
              Math.abs(got[i] - want[i]) <= 2e-6 * Math.abs(want[i]) + 1e-30,
              `${what} at ${i}: ${got[i]} vs ${want[i]}`,
            );
        // Each x moves by at most half a step of its block's scale: |Δy| ≤ Σ_b (max|x_b|/254)·Σ_b |w|.
        let moved = 0;
        for (let m = 0; m < M; m++)
          for (let n = 0; n < N; n++) {
            let exact = 0,
              bound = 0;
            for (let b = 0; b < K / 32; b++) {
              let amax = 0,
                wsum = 0;
              for (let j = b * 32; j < b * 32 + 32; j++) {
                exact += wd[n * K + j] * x[m * K + j];
                amax = Math.max(amax, Math.abs(x[m * K + j]));
                wsum += Math.abs(wd[n * K + j]);
              }
              bound += (amax / 254) * wsum;
            }
            const d = Math.abs(got[m * N + n] - exact);
            assert.ok(d <= bound * 1.001 + 1e-5, `${what} (${m}, ${n}): off the f32 product by ${d}, bound ${bound}`);
            moved = Math.max(moved, d / bound);
          }
        assert.ok(moved > 0.01, `${what}: the activations were rounded (largest move ${moved} of the bound)`);
        for (let m = 0; m < M; m++) k.matmulXWtInt8(alone + m * N * 4, xp + m * K * 4, wq, 1, N, K, wt);
        assert.deepEqual(core.f32(alone, M * N), got, `${what}: each row alone`);
        k.matmulXWtInt8(y, xp, wq, M, N, K, wt, true);
        assert.deepEqual(
          core.f32(y, M * N),
          got.map((v) => f(v + v)),
          `${what}: accumulated`,
        );
      }
    }
  }
});
