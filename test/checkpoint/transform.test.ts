/**
 * transform_ckpt: splitting the real checkpoint (and one with LoRA factors) into model-parallel
 * slices and merging them back is bit-exact for model_parallel 2 and 4; slices have the shapes
 * of MindFormers' column-, row- and vocab-parallel layout; rank folders load directly.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as convert } from '../../src/commands/convert_weight.ts';
import { main as transform } from '../../src/commands/transform_ckpt.ts';
import { loadModel, openCheckpoint } from '../../src/checkpoint/load.ts';
import { modelTensors } from '../../src/checkpoint/model_tensors.ts';
import { openTensors } from '../../src/checkpoint/open.ts';
import { writeTensors } from '../../src/checkpoint/write.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { assertSameTensors, quietly, scratch, TINY } from './helpers.ts';

const dir = scratch();
const ids = Int32Array.from([1, 450, 2996, 1734, 170, 432, 1720, 975, 2]);

describe('transform_ckpt', async () => {
  const core = await loadCore();
  const config = openCheckpoint(TINY).config;
  const ckpt = join(dir, 'tiny.ckpt');
  await quietly(convert, ['--model', 'llama', '--input_path', TINY, '--output_path', ckpt]);

  for (const mp of [2, 4]) {
    it(`split into model_parallel ${mp} and merged back is bit-exact; slices have MindFormers' shapes`, async () => {
      const split = join(dir, `mp${mp}`),
        merged = join(dir, `merged${mp}`);
      const r = await quietly(transform, [
        '--src_checkpoint',
        ckpt,
        '--dst_checkpoint_dir',
        split,
        '--model_parallel',
        String(mp),
        '--world_size',
        String(2 * mp),
      ]);
      assert.match(r.out, /Transform succeed![^]*saved to .*mp\d\/tiny$/);
      const rank1 = openTensors(join(split, 'tiny', 'rank_1', 'checkpoint_1.ckpt'));
      const shape = (n: string) => rank1.tensors.get(n)!.shape;
      assert.deepEqual(shape('model.layers.0.attention.wq.weight'), [16 / mp, 16]);
      assert.deepEqual(shape('model.layers.0.attention.wo.weight'), [16, 16 / mp]);
      assert.deepEqual(shape('model.layers.1.feed_forward.w3.weight'), [64 / mp, 16]);
      assert.deepEqual(shape('model.layers.1.feed_forward.w2.weight'), [16, 64 / mp]);
      assert.deepEqual(shape('model.tok_embeddings.embedding_weight'), [3000 / mp, 16]);
      assert.deepEqual(shape('lm_head.weight'), [3000 / mp, 16]);
      assert.deepEqual(shape('model.norm_out.weight'), [16]);
      rank1.close();
      const copy = join(split, 'tiny', `rank_${mp + 1}`, `checkpoint_${mp + 1}.ckpt`);
      assert.ok(
        readFileSync(copy).equals(readFileSync(join(split, 'tiny', 'rank_1', 'checkpoint_1.ckpt'))),
        'data-parallel copies',
      );
      await quietly(transform, ['--src_checkpoint', join(split, 'tiny'), '--dst_checkpoint_dir', merged]);
      const whole = join(merged, 'tiny', 'rank_0', 'checkpoint_0.ckpt');
      await assertSameTensors(openTensors(whole), openTensors(ckpt));
      assert.ok(readFileSync(whole).equals(readFileSync(ckpt)));
      // The rank folders load as they are: the same model.
      const mark = core.arena.mark();
      const a = await loadModel(
        core,
        join(split, 'tiny'),
        { mode: 'finetune', weightType: WeightType.F32 },
        { config },
      );
      const b = await loadModel(core, TINY, { mode: 'finetune', weightType: WeightType.F32 });
      const la = new Float32Array(8 * 3000),
        lb = new Float32Array(8 * 3000);
      a.step(ids, ids, 1, 8, false, la);
      b.step(ids, ids, 1, 8, false, lb);
      assert.deepEqual(la, lb);
      core.arena.release(mark);
    });
  }

  it('LoRA factors follow their linear: B split with column-parallel rows, A with row-parallel columns; bit-exact back', async () => {
    const mark = core.arena.mark();
    const model = new LlamaModel(core, config, {
      mode: 'finetune',
      weightType: WeightType.F32,
      lora: { rank: 2, alpha: 4, dropout: 0, targetModules: '.*wq|.*wo' },
    });
    model.weights.initRandom(3);
    const rng = new Rng(4);
    for (const t of model.weights.trainable) rng.fillNormal(core.arena.f32(t.ptr, t.n), 0.1);
    const lora = join(dir, 'lora.safetensors');
    await writeTensors(lora, 'safetensors', modelTensors(model.weights, { layout: 'mindformers' }));
    core.arena.release(mark);
    await quietly(transform, [
      '--src_checkpoint',
      lora,
      '--dst_checkpoint_dir',
      join(dir, 'lora_mp2'),
      '--model_parallel',
      '2',
      '--save_format',
      'safetensors',
    ]);
    const r0 = openTensors(join(dir, 'lora_mp2', 'lora', 'rank_0', 'checkpoint_0.safetensors'));
    const r1 = openTensors(join(dir, 'lora_mp2', 'lora', 'rank_1', 'checkpoint_1.safetensors'));
    const full = openTensors(lora);
    const qa = 'model.layers.0.attention.wq.mindpet_delta_lora_a',
      qb = 'model.layers.0.attention.wq.mindpet_delta_lora_b';
    const oa = 'model.layers.0.attention.wo.mindpet_delta_lora_a',
      ob = 'model.layers.0.attention.wo.mindpet_delta_lora_b';
    assert.deepEqual(
      [qa, qb, oa, ob].map((n) => r1.tensors.get(n)!.shape),
      [
        [2, 16],
        [8, 2],
        [2, 8],
        [16, 2],
      ],
    );
    for (const n of [qa, ob])
      assert.ok(Buffer.from(await r1.read(n)).equals(Buffer.from(await full.read(n))), `${n} is whole on every rank`);
    const fullB = new Float32Array((await full.read(qb)).buffer),
      part1 = new Float32Array((await r1.read(qb)).buffer);
    assert.deepEqual(part1, fullB.slice(16, 32), 'rank 1 holds rows 8..15 of wq B');
    r0.close();
    r1.close();
    await quietly(transform, [
      '--src_checkpoint',
      join(dir, 'lora_mp2', 'lora'),
      '--dst_checkpoint_dir',
      join(dir, 'lora_back'),
      '--save_format',
      'safetensors',
    ]);
    await assertSameTensors(openTensors(join(dir, 'lora_back', 'lora', 'rank_0', 'checkpoint_0.safetensors')), full);
  });

  it('refuses a --prefix that would put slices outside their rank folders', async () => {
    const dst = join(dir, 'prefixed');
    for (const prefix of ['../../escaped_', 'sub/slice_', '..\\slice_']) {
      await assert.rejects(
        quietly(transform, ['--src_checkpoint', ckpt, '--dst_checkpoint_dir', dst, '--prefix', prefix]),
        (err: Error) =>
          err.message ===
          `prefix '${prefix}' must be a file name prefix, without '/' or '\\' (each slice is rank_<i>/<prefix><i>.ckpt)`,
      );
    }
    assert.ok(!existsSync(dst) && !readdirSync(dir).some((f) => f.startsWith('escaped_')), 'nothing was written');
  });

  it('a model-parallel degree that does not divide the model is an error naming the reason', async () => {
    await assert.rejects(
      quietly(transform, [
        '--src_checkpoint',
        ckpt,
        '--dst_checkpoint_dir',
        join(dir, 'mp3'),
        '--model_parallel',
        '3',
        '--config',
        join(TINY, 'config.json'),
      ]),
      /4 heads and 4 key\/value heads do not divide among 3/,
    );
    await assert.rejects(
      quietly(transform, ['--src_checkpoint', ckpt, '--dst_checkpoint_dir', join(dir, 'mp3'), '--model_parallel', '3']),
      /tensor model.layers.0.feed_forward.w2.weight: dimension 1 of \[16,64\] does not divide into 3 model-parallel slices/,
    );
    await assert.rejects(
      quietly(transform, ['--src_checkpoint', join(dir, 'nothing'), '--dst_checkpoint_dir', join(dir, 'x')]),
      /nothing: no such file or folder/,
    );
    await assert.rejects(
      quietly(transform, ['--src_checkpoint', ckpt, '--dst_checkpoint_dir', join(dir, 'mp2')]),
      /mp2\/tiny already exists/,
    );
  });
});
