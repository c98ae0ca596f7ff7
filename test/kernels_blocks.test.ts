/**
 * The block-quantized kernels (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K, Q3_K) against the f32 kernels on the
 * dequantized weights (dequantized by the TypeScript reader, checked against llama.cpp's gguf-py
 * in test/checkpoint/gguf.test.ts and against super-blocks built by hand here): products within
 * 1e-5 of the largest value, dequantized rows and gathered embeddings equal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantize, quantizeQ4_0, quantizeQ4_1, quantizeQ8_0 } from '../src/checkpoint/gguf/blocks.ts';
import type { GgmlType } from '../src/checkpoint/gguf/format.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { Rng } from '../src/runtime/random.ts';
import { assertClose, coreKinds, randomBlocks, testCore, type TestCore } from './helpers.ts';

function normal(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  new Rng(seed).fillNormal(out, 1);
  return out;
}

const TYPES: { wt: WeightType; name: GgmlType; blocks: (n: number, seed: number) => Uint8Array }[] = [
  { wt: WeightType.Q8_0, name: 'Q8_0', blocks: (n, seed) => quantizeQ8_0(normal(n, seed)) },
  { wt: WeightType.Q4_0, name: 'Q4_0', blocks: (n, seed) => quantizeQ4_0(normal(n, seed)) },
  { wt: WeightType.Q5_0, name: 'Q5_0', blocks: (n, seed) => randomBlocks('Q5_0', n, seed) },
  { wt: WeightType.Q4_1, name: 'Q4_1', blocks: (n, seed) => quantizeQ4_1(normal(n, seed)) },
  { wt: WeightType.Q5_1, name: 'Q5_1', blocks: (n, seed) => randomBlocks('Q5_1', n, seed) },
  { wt: WeightType.Q4_K, name: 'Q4_K', blocks: (n, seed) => randomBlocks('Q4_K', n, seed) },
  { wt: WeightType.Q5_K, name: 'Q5_K', blocks: (n, seed) => randomBlocks('Q5_K', n, seed) },
  { wt: WeightType.Q6_K, name: 'Q6_K', blocks: (n, seed) => randomBlocks('Q6_K', n, seed) },
  { wt: WeightType.Q3_K, name: 'Q3_K', blocks: (n, seed) => randomBlocks('Q3_K', n, seed) },
];

/** Checks every kernel over `blocks` (N rows of K values of `wt`) against the f32 kernels on `w`, their dequantized values. */
function checkKernels(
  core: TestCore,
  wt: WeightType,
  name: string,
  blocks: Uint8Array,
  w: Float32Array,
  M: number,
  N: number,
  K: number,
) {
  const k = core.kernels,
    mark = core.arena.mark();
  const x = normal(M * K, M),
    dy = normal(M * N, 7 * M);
  const wq = core.arena.alloc(blocks.length + 4);
  core.arena.u8(wq, blocks.length).set(blocks);
  const wf = core.put(w),
    xp = core.put(x),
    dyp = core.put(dy);
  const yq = core.zeros(M * N),
    yf = core.zeros(M * N),
    dxq = core.zeros(M * K),
    dxf = core.zeros(M * K);
  const shape = `M ${M} N ${N} K ${K}`;
  k.matmulXWt(yf, xp, wf, 0, M, N, K, WeightType.F32);
  const want = core.f32(yf, M * N);
  k.matmulXWt(yq, xp, wq, 0, M, N, K, wt);
  assertClose(core.f32(yq, M * N), want, 1e-5, `${name} y = x·Wᵀ, ${shape}`);
  k.matmulXWtRows(yq, xp, wq, 0, M, N, K, wt);
  assertClose(core.f32(yq, M * N), want, 1e-5, `${name} batched decoding rows, ${shape}`);
  k.matmulXWt(yq, xp, wq, 0, M, N, K, wt, true);
  k.matmulXWt(yf, xp, wf, 0, M, N, K, WeightType.F32, true);
  assertClose(core.f32(yq, M * N), core.f32(yf, M * N), 1e-5, `${name} y += x·Wᵀ, ${shape}`);
  k.matmulDyW(dxq, dyp, wq, 0, M, N, K, wt);
  k.matmulDyW(dxf, dyp, wf, 0, M, N, K, WeightType.F32);
  assertClose(core.f32(dxq, M * K), core.f32(dxf, M * K), 1e-5, `${name} dx = dy·W, ${shape}`);
  const rows = core.zeros(N * K);
  k.dequantizeRows(rows, wq, N, K, wt);
  assert.deepEqual(core.f32(rows, N * K), w, `${name} dequantized rows`);
  const picks = [N - 1, 0, Math.floor(N / 2)],
    ids = core.put(Int32Array.from(picks)),
    out = core.zeros(3 * K);
  k.embeddingGather(out, wq, 0, ids, 3, K, wt);
  assert.deepEqual(
    core.f32(out, 3 * K),
    Float32Array.from(picks.flatMap((r) => [...w.subarray(r * K, (r + 1) * K)])),
    `${name} embedding rows`,
  );
  core.arena.release(mark);
}

for (const kind of await coreKinds()) {
  test(`${kind} core: block-quantized products equal the f32 kernels on the dequantized weights`, async () => {
    const core = await testCore(kind);
    for (const { wt, name, blocks: make } of TYPES) {
      for (const [M, N, K] of [
        [1, 5, 256],
        [3, 70, 768],
        [4, 70, 4096],
        [9, 130, 512],
        [2, 3, 8192],
        [1, 2, 32768],
      ]) {
        // the last is past the int16 split (XQ_MAX)
        const blocks = make(N * K, N + K);
        checkKernels(core, wt, name, blocks, dequantize(name, blocks, N * K, name), M, N, K);
      }
    }
  });
}

/**
 * A Q4_K super-block built by hand from the format: d = 1, dmin = 0.5, sub-block j (values
 * 32j..32j+31) with 6-bit scale sc[j] and min m[j] (j ≥ 4 spread over the high bits of bytes
 * 0..7 and the nibbles of bytes 8..11), value i's nibble q = i mod 16 in byte 16 + 32·⌊j/2⌋ + i mod 32
 * (low nibble for even j, high for odd): w_i = d·sc[j]·q − dmin·m[j].
 */
function handQ4K(): { bytes: Uint8Array; values: number[] } {
  const sc = [1, 2, 3, 4, 33, 45, 58, 63],
    m = [0, 5, 10, 63, 17, 32, 48, 1];
  const bytes = new Uint8Array(144);
  bytes.set([0x00, 0x3c, 0x00, 0x38]); // f16 1 and 0.5
  for (let j = 0; j < 4; j++) {
    bytes[4 + j] = sc[j] | ((sc[j + 4] >> 4) << 6);
    bytes[8 + j] = m[j] | ((m[j + 4] >> 4) << 6);
    bytes[12 + j] = (sc[j + 4] & 15) | ((m[j + 4] & 15) << 4);
  }
  const values: number[] = [];
  for (let i = 0; i < 256; i++) {
    const j = i >> 5,
      q = i % 16,
      at = 16 + 32 * (j >> 1) + (i % 32);
    bytes[at] |= j % 2 ? q << 4 : q;
    values.push(1 * sc[j] * q - 0.5 * m[j]);
  }
  return { bytes, values };
}

/**
 * A Q6_K super-block built by hand: d = 0.25, int8 scale sc[i >> 4] per 16 values, value i's
 * 6-bit q = 7i mod 64 with, for i = 128h + 32g + l, its low 4 bits in byte 64h + l + 32·(g mod 2) of
 * ql (low nibble for g < 2, high for g ≥ 2) and its high 2 bits at bits 2g of byte 128 + 32h + l:
 * w_i = d·sc[i >> 4]·(q − 32).
 */
function handQ6K(): { bytes: Uint8Array; values: number[] } {
  const sc = [1, -2, 3, -4, 5, -6, 7, -8, 100, -128, 127, 0, 9, -10, 11, -12];
  const bytes = new Uint8Array(210);
  new Int8Array(bytes.buffer, 192, 16).set(sc);
  bytes.set([0x00, 0x34], 208); // f16 0.25
  const values: number[] = [];
  for (let i = 0; i < 256; i++) {
    const h = i >> 7,
      g = (i >> 5) & 3,
      l = i & 31,
      q = (7 * i) % 64;
    bytes[64 * h + l + 32 * (g % 2)] |= g < 2 ? q & 15 : (q & 15) << 4;
    bytes[128 + 32 * h + l] |= (q >> 4) << (2 * g);
    values.push(0.25 * sc[i >> 4] * (q - 32));
  }
  return { bytes, values };
}

for (const kind of await coreKinds()) {
  test(`${kind} core: Q4_K and Q6_K super-blocks built by hand dequantize to their values, in TypeScript and in the kernels`, async () => {
    const core = await testCore(kind);
    for (const [wt, name, { bytes, values }] of [
      [WeightType.Q4_K, 'Q4_K', handQ4K()],
      [WeightType.Q6_K, 'Q6_K', handQ6K()],
    ] as const) {
      assert.deepEqual([...dequantize(name, bytes, 256, name)], values, `${name}: TypeScript's values`);
      const mark = core.arena.mark(),
        w = core.put(new Int8Array(bytes.buffer)),
        rows = core.zeros(256);
      core.kernels.dequantizeRows(rows, w, 1, 256, wt);
      assert.deepEqual([...core.f32(rows, 256)], values, `${name}: the kernel's dequantized values`);
      // x = e_i picks value i out of the decoding product
      const x = core.zeros(256),
        y = core.zeros(1);
      for (const i of [0, 31, 32, 100, 127, 128, 200, 255]) {
        core.arena.f32(x, 256).fill(0)[i] = 1;
        core.kernels.matmulXWt(y, x, w, 0, 1, 1, 256, wt);
        assert.equal(core.f32(y, 1)[0], values[i], `${name}: e_${i}·w`);
      }
      core.arena.release(mark);
    }
  });
}

test("quantizeBlocks writes the TypeScript reference quantizers' Q8_0 and Q4_0 bytes (normal values at many scales, ties, zeros, subnormals, huge, infinite and NaN values)", async () => {
  const blocks: number[][] = [];
  const rng = new Rng(11);
  for (const scale of [1, 1e-3, 1e3, 1e-30, 1e30, 3e-39])
    for (let b = 0; b < 40; b++) blocks.push(Array.from({ length: 32 }, () => scale * rng.normal()));
  // exact halves after scaling: largest 127 (Q8_0's step 1) or −8 (Q4_0's step 1)
  blocks.push([127, ...Array.from({ length: 31 }, (_, j) => (j % 2 ? -1 : 1) * (j + 0.5))]);
  blocks.push([-8, ...Array.from({ length: 31 }, (_, j) => (j % 16) - 7.5)]);
  blocks.push(new Array(32).fill(0), [-0, ...new Array(31).fill(0)], [1e-45, ...new Array(31).fill(0)]);
  blocks.push([5e-40, -2e-40, ...new Array(30).fill(1e-41)], [3e38, -3.4e38, ...new Array(30).fill(1)]);
  blocks.push([Infinity, ...new Array(31).fill(1)], [-Infinity, 2, -3, ...new Array(29).fill(0.5)]);
  blocks.push([Number.NaN, ...new Array(31).fill(1)], [1, 2, Number.NaN, ...new Array(29).fill(-1)]);
  const x = Float32Array.from(blocks.flat());
  for (const kind of await coreKinds()) {
    const core = await testCore(kind),
      src = core.put(x);
    for (const [wt, reference] of [
      [WeightType.Q8_0, quantizeQ8_0],
      [WeightType.Q4_0, quantizeQ4_0],
    ] as const) {
      const want = reference(x),
        dst = core.arena.alloc(want.length);
      core.kernels.quantizeBlocks(dst, src, x.length, wt);
      const got = core.arena.u8(dst, want.length);
      const bad = want.findIndex((v, i) => got[i] !== v);
      assert.equal(
        bad,
        -1,
        `${kind} ${WeightType[wt]}: byte ${bad} (block ${Math.floor(bad / (wt === WeightType.Q8_0 ? 34 : 18))})`,
      );
    }
    // A length that is not whole blocks is refused, not cut short.
    assert.throws(
      () => core.kernels.quantizeBlocks(0, src, 40, WeightType.Q4_0),
      /Q4_0 takes whole blocks of 32 values, not 40/,
    );
    assert.throws(
      () => core.kernels.matmulXWtInt8(0, src, 0, 1, 4, 288, WeightType.Q4_K),
      /Q4_K takes whole blocks of 256 values, not 288/,
    );
  }
});
