/**
 * Generation's integer products over block-quantized weights (assembly/qact.ts, kqact.ts)
 * against an oracle written here from the formulas: x rounded to int8 per block (of 32 values for
 * Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1, of 256 for Q4_K, Q5_K, Q6_K and Q3_K; scale max|x|/127, nearest with ties to even), each
 * block's exact integer sums (the super-blocks' 6- and 8-bit scales and mins applied to the
 * integer sums of their runs), then the f32 accumulation acc = isum·fl(d·dx) + acc (Q4_1 and Q5_1:
 * then acc = Σqx·fl(m·dx) + acc). The plain
 * build rounds each product and sum apart, so it must give the oracle's bits; the relaxed build
 * fuses them (FMA), so it must be within an ulp or two of each step. Both must also stay within
 * the rounding bound of 8-bit activations of the f32 product on the dequantized weights, and give
 * a row the same bits alone or among others.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  dequantize,
  quantizeQ4_0,
  quantizeQ4_1,
  quantizeQ4_K,
  quantizeQ6_K,
  quantizeQ8_0,
} from '../src/checkpoint/gguf/blocks.ts';
import type { GgmlType } from '../src/checkpoint/gguf/format.ts';
import { halfToFloat } from '../src/checkpoint/dtypes.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { Rng } from '../src/runtime/random.ts';
import { coreKinds, randomBlocks, testCore } from './helpers.ts';

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

/** x[at, at + n) rounded to int8 with one scale: the quants and dx. */
function roundBlock(x: Float32Array, at: number, n: number): { q: number[]; dx: number } {
  let amax = 0;
  for (let j = 0; j < n; j++) amax = Math.max(amax, Math.abs(x[at + j]));
  const inv = amax === 0 ? 0 : f(127 / amax),
    q: number[] = [];
  for (let j = 0; j < n; j++) q[j] = Math.max(-127, Math.min(127, nearestEven(f(x[at + j] * inv))));
  return { q, dx: f(amax / 127) };
}

const half = (b: Uint8Array, at: number): number => halfToFloat(b[at] | (b[at + 1] << 8));

/**
 * One weight block of `type` at `at` as integer terms: for each f32 scale s (d or −dmin), the
 * integer factor of x's quants, c[i], such that the block's sum is Σ_s fl(s·dx)·Σ_i c[i]·qx[i].
 */
function blockTerms(type: GgmlType, b: Uint8Array, at: number): { s: number; c: number[] }[] {
  if (type === 'Q8_0')
    return [{ s: half(b, at), c: Array.from({ length: 32 }, (_, j) => (b[at + 2 + j] << 24) >> 24) }];
  if (type === 'Q4_0') {
    const c: number[] = [];
    for (let j = 0; j < 16; j++) c[j] = (b[at + 2 + j] & 15) - 8;
    for (let j = 0; j < 16; j++) c[16 + j] = (b[at + 2 + j] >> 4) - 8;
    return [{ s: half(b, at), c }];
  }
  if (type === 'Q5_0') {
    // value j: the nibble of byte 6 + j mod 16 (low for j < 16), and bit j of the u32 at 2 as its fifth bit
    const qh = (b[at + 2] | (b[at + 3] << 8) | (b[at + 4] << 16) | (b[at + 5] << 24)) >>> 0,
      c: number[] = [];
    for (let j = 0; j < 32; j++) {
      const nibble = j < 16 ? b[at + 6 + j] & 15 : b[at + 6 + j - 16] >> 4;
      c[j] = (nibble | (((qh >>> j) & 1) << 4)) - 16;
    }
    return [{ s: half(b, at), c }];
  }
  if (type === 'Q4_1' || type === 'Q5_1') {
    // value j: the nibble of the block's last 16 bytes (low for j < 16), Q5_1's bit j of the u32 at 4
    // as its fifth bit; then the min m, whose factor is 1 for every value
    const q5 = type === 'Q5_1',
      qs = at + (q5 ? 8 : 4),
      qh = q5 ? (b[at + 4] | (b[at + 5] << 8) | (b[at + 6] << 16) | (b[at + 7] << 24)) >>> 0 : 0,
      c: number[] = [];
    for (let j = 0; j < 32; j++) c[j] = (j < 16 ? b[qs + j] & 15 : b[qs + j - 16] >> 4) | (((qh >>> j) & 1) << 4);
    return [
      { s: half(b, at), c },
      { s: half(b, at + 2), c: new Array(32).fill(1) },
    ];
  }
  if (type === 'Q4_K' || type === 'Q5_K') {
    // llama.cpp's get_scale_min_k4 over the 12 bytes at at + 4; run j of 32 values: sub-block j;
    // Q5_K: its nibbles 32 bytes further on, and bit j of byte at + 16 + (i mod 32) as value i's fifth bit
    const p = at + 4,
      sc: number[] = [],
      mn: number[] = [];
    for (let j = 0; j < 8; j++) {
      sc[j] = j < 4 ? b[p + j] & 63 : (b[p + j + 4] & 15) | ((b[p + j - 4] >> 6) << 4);
      mn[j] = j < 4 ? b[p + j + 4] & 63 : (b[p + j + 4] >> 4) | ((b[p + j] >> 6) << 4);
    }
    const c: number[] = [],
      m: number[] = [];
    for (let i = 0; i < 256; i++) {
      const chunk = i >> 6,
        l = i & 63,
        q5 = type === 'Q5_K',
        byte = b[at + (q5 ? 48 : 16) + 32 * chunk + (l & 31)],
        j = i >> 5,
        fifth = q5 ? ((b[at + 16 + (i & 31)] >> j) & 1) << 4 : 0;
      c[i] = sc[j] * ((l < 32 ? byte & 15 : byte >> 4) | fifth);
      m[i] = mn[j];
    }
    return [
      { s: half(b, at), c },
      { s: -half(b, at + 2), c: m },
    ];
  }
  if (type === 'Q3_K') {
    // value i of half h: bits 2g..2g+1 of qs byte 32 + 32h + l, bit 4h + g of hmask byte l; run
    // i >> 4's 6-bit scale (low four bits in byte (i >> 4) mod 8, top two in byte 104 + (i >> 4) mod 4) minus 32
    const c: number[] = [];
    for (let i = 0; i < 256; i++) {
      const h = i >> 7,
        g = (i & 127) >> 5,
        l = i & 31,
        j = i >> 4,
        q = ((b[at + 32 + 32 * h + l] >> (2 * g)) & 3) | (((b[at + l] >> (4 * h + g)) & 1) << 2),
        sc =
          (((b[at + 96 + (j & 7)] >> (j < 8 ? 0 : 4)) & 15) | (((b[at + 104 + (j & 3)] >> (2 * (j >> 2))) & 3) << 4)) -
          32;
      c[i] = sc * (q - 4);
    }
    return [{ s: half(b, at + 108), c }];
  }
  // Q6_K: value i of half h: ql byte 64h + l + 32(g & 1) (low nibble for g < 2), qh byte 32h + l bits 2g..2g+1
  const c: number[] = [];
  for (let i = 0; i < 256; i++) {
    const h = i >> 7,
      g = (i & 127) >> 5,
      l = i & 31,
      ql = b[at + 64 * h + l + 32 * (g & 1)],
      qh = b[at + 128 + 32 * h + l];
    const q = (g < 2 ? ql & 15 : ql >> 4) | (((qh >> (2 * g)) & 3) << 4);
    c[i] = ((b[at + 192 + (i >> 4)] << 24) >> 24) * (q - 32);
  }
  return [{ s: half(b, at + 208), c }];
}

const BLOCK: Record<string, { values: number; bytes: number }> = {
  Q8_0: { values: 32, bytes: 34 },
  Q4_0: { values: 32, bytes: 18 },
  Q5_0: { values: 32, bytes: 22 },
  Q4_1: { values: 32, bytes: 20 },
  Q5_1: { values: 32, bytes: 24 },
  Q4_K: { values: 256, bytes: 144 },
  Q5_K: { values: 256, bytes: 176 },
  Q6_K: { values: 256, bytes: 210 },
  Q3_K: { values: 256, bytes: 110 },
};

/** The oracle's y[M,N] for x[M,K] against N rows of `type` blocks; `fused` as the relaxed build's FMA. */
function oracle(
  x: Float32Array,
  blocks: Uint8Array,
  M: number,
  N: number,
  K: number,
  type: GgmlType,
  fused: boolean,
): Float32Array {
  const { values, bytes } = BLOCK[type],
    nb = K / values,
    y = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    const xb = Array.from({ length: nb }, (_, b) => roundBlock(x, m * K + b * values, values));
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let b = 0; b < nb; b++)
        for (const { s, c } of blockTerms(type, blocks, (n * nb + b) * bytes)) {
          let isum = 0;
          for (let i = 0; i < values; i++) isum += c[i] * xb[b].q[i];
          const prod = f(s * xb[b].dx);
          acc = fused ? f(f(isum) * prod + acc) : f(f(f(isum) * prod) + acc);
        }
      y[m * N + n] = acc;
    }
  }
  return y;
}

const SHAPES: Record<number, [number, number, number][]> = {
  32: [
    [1, 37, 96],
    [3, 16, 32],
    [4, 9, 64],
    [7, 50, 128],
    [1, 256, 768],
    [130, 20, 256],
  ],
  256: [
    [1, 37, 256],
    [3, 16, 512],
    [4, 9, 256],
    [7, 50, 768],
    [1, 256, 512],
    [130, 20, 256],
  ],
};

/** The types, each with blocks of n values (quantized normal values; random Q5_0, Q5_1, Q5_K and Q3_K blocks). */
const TYPES = [
  ['Q8_0', WeightType.Q8_0, (n: number, seed: number) => quantizeQ8_0(normal(n, seed))],
  ['Q4_0', WeightType.Q4_0, (n: number, seed: number) => quantizeQ4_0(normal(n, seed))],
  ['Q5_0', WeightType.Q5_0, (n: number, seed: number) => randomBlocks('Q5_0', n, seed)],
  ['Q4_1', WeightType.Q4_1, (n: number, seed: number) => quantizeQ4_1(normal(n, seed))],
  ['Q5_1', WeightType.Q5_1, (n: number, seed: number) => randomBlocks('Q5_1', n, seed)],
  ['Q4_K', WeightType.Q4_K, (n: number, seed: number) => quantizeQ4_K(normal(n, seed))],
  ['Q5_K', WeightType.Q5_K, (n: number, seed: number) => randomBlocks('Q5_K', n, seed)],
  ['Q6_K', WeightType.Q6_K, (n: number, seed: number) => quantizeQ6_K(normal(n, seed))],
  ['Q3_K', WeightType.Q3_K, (n: number, seed: number) => randomBlocks('Q3_K', n, seed)],
] as const;

test('int8-activation products over Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K and Q3_K: the oracle formula, the 8-bit rounding bound, rows alone and batched the same, accumulate', async () => {
  for (const kind of await coreKinds()) {
    const core = await testCore(kind),
      k = core.kernels;
    for (const [name, wt, make] of TYPES) {
      const values = BLOCK[name].values;
      for (const [M, N, K] of SHAPES[values]) {
        const what = `${kind} ${name} M ${M} N ${N} K ${K}`;
        const blocks = make(N * K, N + K),
          wd = dequantize(name, blocks, N * K, name),
          x = normal(M * K, M * 31 + K);
        const wq = core.arena.alloc(blocks.length + 4);
        core.arena.u8(wq, blocks.length).set(blocks);
        const xp = core.put(x),
          y = core.zeros(M * N),
          alone = core.zeros(M * N);
        k.matmulXWtInt8(y, xp, wq, M, N, K, wt);
        const got = core.f32(y, M * N);
        const want = oracle(x, blocks, M, N, K, name, kind === 'relaxed');
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
            for (let b = 0; b < K / values; b++) {
              let amax = 0,
                wsum = 0;
              for (let j = b * values; j < (b + 1) * values; j++) {
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
