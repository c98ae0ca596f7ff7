/**
 * One optimizer step against PyTorch: the loss and gradients of a step, the global-norm
 * clipping, and torch.optim.AdamW's update; and the learning-rate schedules against the SPEC
 * formula written independently in the reference.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { adamwStep, globalGradNorm, scaleGrads } from '../../src/train/optimizer.ts';
import { makeSchedule } from '../../src/train/schedule.ts';
import { assertClose } from '../helpers.ts';
import { runReference } from '../model/harness.ts';
import { tinyBatch, tinyConfig } from '../model/fixtures.ts';

const REF = new URL('../reference/llama_ref.py', import.meta.url).pathname;

describe('one optimizer step against PyTorch', async () => {
  const core = await loadCore();
  for (const mode of ['finetune', 'train'] as const) {
    it(`loss, gradients, clipping and the AdamW update (${mode})`, () => {
      const mark = core.arena.mark();
      const config = tinyConfig({ nKvHeads: 2 });
      const model = new LlamaModel(core, config, {
        mode,
        weightType: WeightType.F32,
        lora: mode === 'finetune' ? { rank: 4, alpha: 8, dropout: 0, targetModules: '.*wq|.*wv|.*w2' } : undefined,
      });
      model.weights.initRandom(21, 0.2);
      model.weights.initLora(22);
      const rng = new Rng(23);
      for (const layer of model.weights.layers)
        for (const ad of Object.values(layer.lora)) rng.fillNormal(core.arena.f32(ad.b.ptr, ad.b.n), 0.1);
      const { ids, labels } = tinyBatch(24, 2, 9, config.vocabSize);
      const hp = { lr: 3e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.01, maxNorm: 0.5 };
      const want = runReference(model, ids, labels, 2, 9, 'optstep', [
        '--lr',
        String(hp.lr),
        '--beta1',
        String(hp.beta1),
        '--beta2',
        String(hp.beta2),
        '--eps',
        String(hp.eps),
        '--weight-decay',
        String(hp.weightDecay),
        '--max-norm',
        String(hp.maxNorm),
      ]);
      const t = model.weights.trainable;
      const loss = model.step(ids, labels, 2, 9, true).loss;
      assert.ok(
        Math.abs(loss - want.get('loss')![0]) <= 1e-5 * want.get('loss')![0],
        `loss ${loss} vs ${want.get('loss')![0]}`,
      );
      for (const p of t)
        assertClose(core.arena.f32(p.grad, p.n), want.get(`grad.${p.name}`)!, 1e-5, `gradient of ${p.name}`, 1e-7);
      const norm = globalGradNorm(core, t);
      assert.ok(
        Math.abs(norm - want.get('global_norm')![0]) <= 1e-5 * norm,
        `global norm ${norm} vs ${want.get('global_norm')![0]}`,
      );
      assert.ok(norm > hp.maxNorm, 'the step clips');
      scaleGrads(core, t, hp.maxNorm / norm);
      adamwStep(core, t, { ...hp, biasCorrection: true }, 1);
      for (const p of t)
        assertClose(core.arena.f32(p.ptr, p.n), want.get(`param.${p.name}`)!, 1e-5, `updated ${p.name}`);
      core.arena.release(mark);
    });
  }
});

describe('learning-rate schedules', () => {
  it('cosine with warm-up equals the SPEC formula of the reference at every step', () => {
    for (const [total, ratio, lr, end] of [
      [100, 0.03, 1e-5, 0],
      [37, 0.2, 1e-3, 1e-5],
      [10, 0, 2e-4, 0],
    ] as const) {
      const want = JSON.parse(
        execFileSync(
          '/usr/bin/python3',
          [
            REF,
            'schedule',
            '--total',
            String(total),
            '--warmup-ratio',
            String(ratio),
            '--lr',
            String(lr),
            '--lr-end',
            String(end),
          ],
          { encoding: 'utf8' },
        ),
      ) as number[];
      const s = makeSchedule(
        {
          type: 'CosineWithWarmUpLR',
          learning_rate: lr,
          lr_end: end,
          warmup_ratio: ratio,
          warmup_steps: 0,
          total_steps: -1,
        },
        total,
      );
      assertClose(
        want.map((_, i) => s(i)),
        want,
        1e-12,
        `cosine ${total}/${ratio}`,
      );
    }
  });

  it('linear and constant schedules by hand', () => {
    const lin = makeSchedule(
      { type: 'LinearWithWarmUpLR', learning_rate: 1, lr_end: 0, warmup_ratio: 0, warmup_steps: 2, total_steps: 10 },
      99,
    );
    assert.deepEqual([0, 1, 2, 6, 10].map(lin), [0, 0.5, 1, 0.5, 0]);
    const con = makeSchedule(
      { type: 'ConstantWarmUpLR', learning_rate: 0.1, lr_end: 0, warmup_ratio: 0.5, warmup_steps: 0, total_steps: -1 },
      4,
    );
    assert.deepEqual([0, 1, 2, 3].map(con), [0, 0.05, 0.1, 0.1]);
  });
});
