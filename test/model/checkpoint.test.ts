/**
 * The real Hugging Face checkpoint in ../shared (BF16 safetensors) loads and its logits match the
 * PyTorch reference run on the same file; the LoRA gradients agree with finite differences of the
 * loss on a tiny model.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { loadModel, openCheckpoint } from '../../src/checkpoint/load.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { assertClose } from '../helpers.ts';
import { referenceStep } from './harness.ts';
import { tinyBatch, tinyConfig } from './fixtures.ts';
import * as ref from '../reference/kernels.ts';
import { argmax } from '../../src/generate/sampling.ts';
import { runCli, TINY } from '../fixtures.ts';

describe('a real checkpoint', async () => {
  const core = await loadCore();

  it('tiny-random-llama-2 loads and its logits match PyTorch on the same file', async () => {
    const mark = core.arena.mark();
    const { config } = openCheckpoint(TINY);
    assert.deepEqual(
      [config.dim, config.nLayers, config.nHeads, config.vocabSize, config.ffnDim],
      [16, 2, 4, 3000, 64],
    );
    for (const wt of [WeightType.F32, WeightType.BF16]) {
      const model = await loadModel(core, TINY, {
        mode: 'finetune',
        weightType: wt,
        lora: { rank: 2, alpha: 4, dropout: 0, targetModules: '.*wq' },
      });
      const prompts = Int32Array.from(
        [1, 450, 4996, 17354, 1701, 432, 17204, 975, 2, 1, 15043, 3186, 29991, 13, 1576, 263, 1243, 310].map(
          (t) => t % 3000,
        ),
      );
      const logits = new Float32Array(2 * 8 * config.vocabSize);
      model.step(prompts, prompts, 2, 8, false, logits);
      const want = referenceStep(model, prompts, prompts, 2, 8, join(TINY, 'model.safetensors'));
      assertClose(logits, want.logits, 1e-4, `logits (weights stored ${WeightType[wt]})`);
    }
    core.arena.release(mark);
  });

  it('a wrong path or a broken file gives one clear error', () => {
    assert.throws(() => openCheckpoint('/nonexistent/model'), /\/nonexistent\/model: no such file or folder/);
    assert.throws(() => openCheckpoint(join(TINY, 'config.json')), /not a safetensors file/);
  });
});

describe('LoRA gradients against finite differences', async () => {
  const core = await loadCore();
  it('every A and B entry of a tiny model (with dropout and recompute)', () => {
    const mark = core.arena.mark();
    const config = tinyConfig({ dim: 12, nHeads: 3, nKvHeads: 1, ffnDim: 20, vocabSize: 19, nLayers: 2 });
    const model = new LlamaModel(core, config, {
      mode: 'finetune',
      weightType: WeightType.F32,
      recompute: true,
      seed: 3,
      lora: { rank: 2, alpha: 4, dropout: 0.3, targetModules: '.*wq|.*wo|.*w2' },
    });
    model.weights.initRandom(11, 0.4);
    model.weights.initLora(12);
    for (const layer of model.weights.layers)
      for (const ad of Object.values(layer.lora))
        core.arena.f32(ad.b.ptr, ad.b.n).set(ref.randn(ad.b.n, ad.b.n).map((v) => 0.3 * v));
    const { ids, labels } = tinyBatch(13, 2, 6, config.vocabSize);
    // The dropout masks depend on the step number: evaluate every loss as "step 1" by resetting.
    const lossAt = (): number => {
      model.stepCount = 0;
      return model.step(ids, labels, 2, 6, true).loss;
    };
    model.weights.zeroGrads();
    lossAt();
    // Every gradient is read before any finite-difference step (each of which accumulates more).
    const grads = model.weights.trainable.map((t) => Float32Array.from(core.arena.f32(t.grad, t.n)));
    for (const [i, t] of model.weights.trainable.entries()) {
      const grad = grads[i];
      const x0 = Float32Array.from(core.arena.f32(t.ptr, t.n));
      const fd = ref.finiteDiffGrad(
        (x) => {
          core.arena.f32(t.ptr, t.n).set(x);
          return lossAt();
        },
        Float64Array.from(x0),
        3e-3,
      );
      core.arena.f32(t.ptr, t.n).set(x0);
      assertClose(grad, fd, 2e-2, `d loss / d ${t.name}`);
    }
    core.arena.release(mark);
  });
});

describe('the logits command', () => {
  it('prints the last-position logits and a greedy continuation that match PyTorch', async () => {
    const { stdout } = await runCli(['--load_checkpoint', TINY, '--input_ids', '1,42,99', '--greedy', '4'], {
      script: 'logits',
      source: true,
      expect: 0,
    });
    const got = JSON.parse(stdout) as { input_ids: number[]; logits: number[]; greedy: number[] };
    assert.deepEqual(got.input_ids, [1, 42, 99]);
    assert.equal(got.greedy.length, 4);
    // One reference pass over prompt + continuation gives the logits at every position.
    const core = await loadCore();
    const model = await loadModel(core, TINY, { mode: 'finetune', weightType: WeightType.F32 });
    const seq = [...got.input_ids, ...got.greedy],
      S = seq.length - 1,
      V = model.config.vocabSize;
    const ids = Int32Array.from(seq);
    const want = referenceStep(model, ids, ids, 1, S, join(TINY, 'model.safetensors'));
    assertClose(got.logits, want.logits.slice(2 * V, 3 * V), 1e-4, 'last-position logits');
    got.greedy.forEach((t, i) =>
      assert.equal(t, argmax(want.logits.slice((2 + i) * V, (3 + i) * V)), `greedy token ${i}`),
    );
  });

  it('rejects bad input with one line and a non-zero exit', async () => {
    const run = (...args: string[]) => runCli(args, { script: 'logits', source: true });
    const bad = await run('--load_checkpoint', TINY, '--input_ids', '1,x');
    assert.equal(bad.code, 1);
    assert.equal(bad.stderr.trim(), "logits: --input_ids takes comma-separated token ids, got '1,x'");
    assert.match((await run('--input_ids', '1')).stderr, /^logits: --load_checkpoint is required\n$/);
    assert.match(
      (await run('--load_checkpoint', TINY, '--input_ids', '5000')).stderr,
      /token id 5000 is outside the vocabulary of 3000/,
    );
  });
});
