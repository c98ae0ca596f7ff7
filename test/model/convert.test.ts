/**
 * setMatrix converts f32 values to the storage type through a bounded scratch, a chunk of rows at
 * a time: a head larger than one chunk (70,003 rows of 64 values, over 2^22 values) must hold
 * what an independent conversion of the whole matrix gives, for every type the kernels convert.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dequantize, quantizeQ4_0, quantizeQ8_0 } from '../../src/checkpoint/gguf/blocks.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { tinyConfig } from './fixtures.ts';

/** bf16 of each value, nearest with ties to even (no NaN here), back as f32. */
function bf16(v: Float32Array): Float32Array {
  const u = new Uint32Array(v.buffer.slice(0)),
    out = new Uint32Array(u.length);
  for (let i = 0; i < u.length; i++) out[i] = ((u[i] + 0x7fff + ((u[i] >>> 16) & 1)) >>> 16) << 16;
  return new Float32Array(out.buffer);
}

/** Rows of `cols` as int8 times a row scale max|w|/127, nearest with ties to even, back as f32. */
function int8Rows(v: Float32Array, cols: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let r = 0; r < v.length / cols; r++) {
    let m = 0;
    for (let j = 0; j < cols; j++) m = Math.max(m, Math.abs(v[r * cols + j]));
    const s = Math.fround(m / 127);
    for (let j = 0; j < cols; j++) {
      const t = Math.fround(v[r * cols + j] / s);
      let q = Math.round(t);
      if (q - t === 0.5 && q % 2 !== 0) q -= 1; // ties to even
      out[r * cols + j] = Math.fround((Math.max(-127, Math.min(127, q)) || 0) * s); // an int8 has no −0
    }
  }
  return out;
}

test('setMatrix converts a matrix larger than its scratch chunk by chunk to what converting it whole gives (bf16, int8, q8_0, q4_0)', async () => {
  const core = await loadCore(),
    config = tinyConfig({ dim: 64, nHeads: 4, nKvHeads: 4, ffnDim: 64, vocabSize: 70003, nLayers: 1 });
  const values = new Float32Array(config.vocabSize * config.dim);
  new Rng(4).fillNormal(values, 1);
  for (const [wt, want] of [
    [WeightType.BF16, bf16(values)],
    [WeightType.I8, int8Rows(values, config.dim)],
    [WeightType.Q8_0, dequantize('Q8_0', quantizeQ8_0(values), values.length, 'Q8_0')],
    [WeightType.Q4_0, dequantize('Q4_0', quantizeQ4_0(values), values.length, 'Q4_0')],
  ] as const) {
    const mark = core.arena.mark(),
      model = new LlamaModel(core, config, { mode: 'finetune', weightType: wt }),
      head = model.weights.baseTensors().find((t) => t.name === 'lm_head.weight')!.matrix!;
    model.weights.setMatrix(head, values);
    assert.deepEqual(model.weights.getMatrix(head), want, WeightType[wt]);
    core.arena.release(mark);
  }
});
