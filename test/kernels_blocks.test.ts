/**
 * The Q8_0 and Q4_0 kernels against the f32 kernels on the dequantized weights (dequantized by
 * the TypeScript reader, checked against llama.cpp's gguf-py in test/checkpoint/gguf.test.ts):
 * products within 1e-5 of the largest value, dequantized rows and gathered embeddings equal.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from '../src/checkpoint/gguf/blocks.ts';
import { WeightType } from '../src/runtime/kernels.ts';
import { Rng } from '../src/runtime/random.ts';
import { assertClose, coreKinds, testCore } from './helpers.ts';

const TYPES = [
  [WeightType.Q8_0, 'Q8_0', quantizeQ8_0],
  [WeightType.Q4_0, 'Q4_0', quantizeQ4_0],
] as const;

function normal(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  new Rng(seed).fillNormal(out, 1);
  return out;
}

for (const kind of await coreKinds()) {
  test(`${kind} core: block-quantized products equal the f32 kernels on the dequantized weights`, async () => {
    const core = await testCore(kind),
      k = core.kernels;
    for (const [wt, name, quantize] of TYPES) {
      for (const [M, N, K] of [
        [1, 5, 32],
        [3, 70, 96],
        [4, 70, 4096],
        [9, 130, 160],
        [2, 3, 8192],
        [1, 2, 32768],
      ]) {
        // the last is past the int16 split (XQ_MAX)
        const mark = core.arena.mark();
        const blocks = quantize(normal(N * K, N + K)),
          w = dequantize(name, blocks, N * K, name);
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
        k.matmulXWt(yq, xp, wq, 0, M, N, K, wt);
        k.matmulXWt(yf, xp, wf, 0, M, N, K, WeightType.F32);
        assertClose(core.f32(yq, M * N), core.f32(yf, M * N), 1e-5, `${name} y = x·Wᵀ, M ${M} N ${N} K ${K}`);
        k.matmulXWt(yq, xp, wq, 0, M, N, K, wt, true);
        k.matmulXWt(yf, xp, wf, 0, M, N, K, WeightType.F32, true);
        assertClose(core.f32(yq, M * N), core.f32(yf, M * N), 1e-5, `${name} y += x·Wᵀ, M ${M} N ${N} K ${K}`);
        k.matmulDyW(dxq, dyp, wq, 0, M, N, K, wt);
        k.matmulDyW(dxf, dyp, wf, 0, M, N, K, WeightType.F32);
        assertClose(core.f32(dxq, M * K), core.f32(dxf, M * K), 1e-5, `${name} dx = dy·W, M ${M} N ${N} K ${K}`);
        const rows = core.zeros(N * K);
        k.dequantizeRows(rows, wq, N, K, wt);
        assert.deepEqual(core.f32(rows, N * K), w, `${name} dequantized rows`);
        const ids = core.put(Int32Array.from([N - 1, 0, Math.floor(N / 2)])),
          out = core.zeros(3 * K);
        k.embeddingGather(out, wq, 0, ids, 3, K, wt);
        assert.deepEqual(
          core.f32(out, 3 * K),
          Float32Array.from([
            ...w.subarray((N - 1) * K, N * K),
            ...w.subarray(0, K),
            ...w.subarray(Math.floor(N / 2) * K, (Math.floor(N / 2) + 1) * K),
          ]),
          `${name} embedding rows`,
        );
        core.arena.release(mark);
      }
    }
  });
}
