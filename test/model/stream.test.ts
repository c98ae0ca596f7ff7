/**
 * Streamed layers (the blocks' frozen matrices outside the core's memory, copied into one slot
 * before each layer runs) compute exactly what resident weights compute: the same logits, loss,
 * LoRA gradients, decoded tokens and saved tensors, for f32, bf16 and int8 storage; the memory plan counts one
 * slot instead of every layer.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { LlamaModel, type ModelOptions } from '../../src/model/llama.ts';
import { generate } from '../../src/generate/generate.ts';
import { weightPlan } from '../../src/model/plan.ts';
import { hostWeightBytes } from '../../src/model/weights.ts';
import { modelTensors } from '../../src/checkpoint/model_tensors.ts';
import { tinyBatch, tinyConfig } from './fixtures.ts';

describe('streamed layers', async () => {
  const core = await loadCore();
  const config = tinyConfig({ dim: 48, nHeads: 6, nKvHeads: 2, ffnDim: 88, vocabSize: 97, nLayers: 3 });
  for (const [wt, name] of [
    [WeightType.F32, 'f32'],
    [WeightType.BF16, 'bf16'],
    [WeightType.I8, 'int8'],
  ] as const) {
    it(`equal resident weights bit for bit (${name}): logits, loss, LoRA gradients, decoding, saved tensors`, async () => {
      const mark = core.arena.mark();
      const options: ModelOptions = {
        mode: 'finetune',
        weightType: wt,
        lora: { rank: 4, alpha: 8, dropout: 0.2, targetModules: '.*wq|.*wv|.*w2' },
        recompute: true,
        seed: 5,
      };
      const run = (streamLayers: boolean) => {
        const model = new LlamaModel(core, config, { ...options, streamLayers });
        model.weights.initRandom(7, 0.3);
        model.weights.initLora(8);
        for (const t of model.weights.trainable)
          core.arena.f32(t.ptr, t.n).forEach((_, i, a) => {
            a[i] += 0.01 * Math.sin(i);
          }); // B ≠ 0
        const { ids, labels } = tinyBatch(3, 2, 9, config.vocabSize);
        const logits = new Float32Array(2 * 9 * config.vocabSize);
        const loss = model.step(ids, labels, 2, 9, true, logits).loss;
        const grads = model.weights.trainable.map((t) => Float32Array.from(core.arena.f32(t.grad, t.n)));
        const tokens = generate(model, [1, 17, 42, 5], { maxNewTokens: 6, eosId: -1 });
        return { loss, logits, grads, tokens, model };
      };
      const resident = run(false),
        streamed = run(true);
      assert.ok(streamed.model.weights.hostLayers, 'the streamed model keeps its layers outside the memory');
      assert.equal(streamed.loss, resident.loss);
      assert.deepEqual(streamed.logits, resident.logits);
      streamed.grads.forEach((g, i) =>
        assert.deepEqual(g, resident.grads[i], streamed.model.weights.trainable[i].name),
      );
      assert.deepEqual(streamed.tokens, resident.tokens);
      // The base as read back equals the resident base.
      const a = resident.model.weights.baseTensors(),
        b = streamed.model.weights.baseTensors();
      a.forEach(
        (t, i) =>
          t.matrix &&
          assert.deepEqual(
            streamed.model.weights.getMatrix(b[i].matrix!),
            resident.model.weights.getMatrix(t.matrix),
            t.name,
          ),
      );
      // So do the tensors a checkpoint of the model is written from.
      const saved = (m: LlamaModel) =>
        Promise.all(modelTensors(m.weights, { lora: false }).map(async (t) => Uint8Array.from(await t.bytes())));
      assert.deepEqual(await saved(streamed.model), await saved(resident.model));
      core.arena.release(mark);
    });
  }

  it('plans one layer slot in the memory and every layer outside it', () => {
    const options: ModelOptions = {
      mode: 'finetune',
      weightType: WeightType.BF16,
      lora: { rank: 4, alpha: 8, dropout: 0, targetModules: '.*wq' },
    };
    const sum = (o: ModelOptions) => weightPlan(config, o).reduce((s, r) => s + r.bytes, 0);
    const layerBytes = 2 * (48 * 48 + 2 * 16 * 48 + 48 * 48 + 3 * 88 * 48); // wq wk wv wo w1 w2 w3 in bf16
    assert.equal(hostWeightBytes(config, { ...options, streamLayers: true }), 3 * layerBytes);
    const saved = sum(options) - sum({ ...options, streamLayers: true });
    assert.ok(
      saved >= 2 * layerBytes && saved <= 2 * layerBytes + 7 * 3 * 64,
      `${saved} bytes saved by streaming 3 layers through one slot`,
    );
  });
});
