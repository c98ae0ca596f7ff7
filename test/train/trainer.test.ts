/**
 * The training loop's own refusals: a run configured to resume but given no checkpoints to
 * resume from is an error before any step, not a run from the start that looks resumed.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultRunConfig } from '../../src/config/defaults.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import type { TrainRecords } from '../../src/train/records.ts';
import { train } from '../../src/train/trainer.ts';
import { tinyConfig } from '../model/fixtures.ts';

describe('train', () => {
  it('refuses --resume_training without checkpoints, before any step', async () => {
    const core = await loadCore();
    const model = new LlamaModel(core, tinyConfig({}), {
      mode: 'finetune',
      weightType: WeightType.F32,
      lora: { rank: 2, alpha: 4, dropout: 0, targetModules: '.*wq' },
    });
    const S = 8;
    const data: TrainRecords = {
      dir: 'records',
      length: 4,
      index: { seq_length: S, columns: { input_ids: {} } },
      record: (i) => ({ input_ids: Int32Array.from({ length: S + 1 }, (_, j) => 3 + ((i + j) % 60)) }),
    };
    const before = Float32Array.from(core.arena.f32(model.weights.trainable[0].ptr, model.weights.trainable[0].n));
    for (const resume of [true, 'some_checkpoint.safetensors']) {
      const config = defaultRunConfig();
      config.resume_training = resume;
      config.runner_config = { ...config.runner_config, batch_size: 2, epochs: 1 };
      config.callbacks = [];
      await assert.rejects(
        train({ config, model, data, log: () => {} }),
        /^Error: --resume_training: this run has no checkpoints to resume from$/,
      );
    }
    const t = model.weights.trainable[0];
    assert.deepEqual(Float32Array.from(core.arena.f32(t.ptr, t.n)), before, 'no step was taken');
  });
});
