/**
 * LoRA in checkpoints: a PEFT adapter exported and imported is bit-exact; a merged model gives
 * the logits of base + adapter (1e-5 relative, and PyTorch agrees on both); transform_ckpt_lora
 * takes the scale from the adapter's own config (PEFT or the MindFormers YAML) and never from a
 * default; a factor that cannot be merged (a layer the base does not have, no partner) is an error
 * naming it, never dropped; MindFormers-named LoRA checkpoints load; what was not loaded is
 * reported as MindFormers reports it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as convert } from '../../src/commands/convert_weight.ts';
import { main as mergeCommand } from '../../src/commands/transform_ckpt_lora.ts';
import { formatLoadReport, loadModel, openCheckpoint, type LoadReport } from '../../src/checkpoint/load.ts';
import { modelTensors } from '../../src/checkpoint/model_tensors.ts';
import { relayout, openTensors } from '../../src/checkpoint/open.ts';
import { adapterBaseModel, openAdapter, PEFT_PREFIX, saveAdapter } from '../../src/checkpoint/peft.ts';
import { writeSafetensors, type TensorToWrite } from '../../src/checkpoint/safetensors.ts';
import { writeTensors } from '../../src/checkpoint/write.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import type { LlamaModel } from '../../src/model/llama.ts';
import { assertClose } from '../helpers.ts';
import { referenceStep } from '../model/harness.ts';
import { quietly, scratch, TINY } from './helpers.ts';

const dir = scratch();
const ids = Int32Array.from([1, 450, 2996, 1734, 170, 432, 1720, 975, 2, 1, 1504, 318, 2999, 13, 1576, 263, 1243, 310]);
const LORA = { rank: 2, alpha: 4, dropout: 0, targetModules: '.*wq|.*wv|.*wo|.*w2' };
const YAML = `model:
  model_config:
    hidden_size: 16
    num_layers: 2
    num_heads: 4
    vocab_size: 3000
    intermediate_size: 64
    pet_config:
      pet_type: lora
      lora_rank: 2
      lora_alpha: 4
      lora_dropout: 0.0
      target_modules: '.*wq|.*wv|.*wo|.*w2'
`;

function logitsOf(model: LlamaModel): Float32Array {
  const out = new Float32Array(2 * 8 * model.config.vocabSize);
  model.step(ids, ids, 2, 8, false, out);
  return out;
}

function trainables(model: LlamaModel): Buffer[] {
  return model.weights.trainable.map((t) => Buffer.from(Float32Array.from(model.core.arena.f32(t.ptr, t.n)).buffer));
}

describe('LoRA adapters and merging', async () => {
  const core = await loadCore();
  const base = join(dir, 'base32');
  await quietly(convert, [
    '--model',
    'llama',
    '--reversed',
    '--input_path',
    TINY,
    '--output_path',
    base,
    '--dtype',
    'fp32',
    '--config',
    join(TINY, 'config.json'),
  ]);
  const config = openCheckpoint(base).config;
  const model = await loadModel(core, base, { mode: 'finetune', weightType: WeightType.F32, lora: LORA });
  const rng = new Rng(9);
  for (const t of model.weights.trainable) rng.fillNormal(core.arena.f32(t.ptr, t.n), 0.2);
  const withAdapter = logitsOf(model);
  const adapterDir = join(dir, 'adapter');
  await saveAdapter(adapterDir, model.weights, 'base32');

  it('PEFT export → import is bit-exact, and adapter_config.json says what PEFT needs', async () => {
    const cfg = JSON.parse(readFileSync(join(adapterDir, 'adapter_config.json'), 'utf8'));
    assert.deepEqual(
      [cfg.peft_type, cfg.task_type, cfg.r, cfg.lora_alpha, cfg.bias, cfg.target_modules],
      ['LORA', 'CAUSAL_LM', 2, 4, 'none', ['q_proj', 'v_proj', 'o_proj', 'down_proj']],
    );
    const adapter = openAdapter(adapterDir);
    assert.deepEqual(adapter.lora, {
      rank: 2,
      alpha: 4,
      dropout: 0,
      targetModules: ['q_proj', 'v_proj', 'o_proj', 'down_proj'],
    });
    adapter.tensors.close();
    const file = openTensors(join(adapterDir, 'adapter_model.safetensors'));
    assert.ok(file.tensors.has('base_model.model.model.layers.1.mlp.down_proj.lora_B.weight'));
    file.close();
    const mark = core.arena.mark();
    const reports: LoadReport[] = [];
    const again = await loadModel(
      core,
      base,
      { mode: 'finetune', weightType: WeightType.F32 },
      { adapter: adapterDir, report: (r) => reports.push(r) },
    );
    assert.deepEqual(trainables(again), trainables(model));
    assert.deepEqual(reports, [{ notLoaded: [], unused: [] }]);
    assert.deepEqual(logitsOf(again), withAdapter);
    core.arena.release(mark);
    // rsLoRA scales by alpha/√r: the same model as alpha·√r/r here
    const rs = join(dir, 'rslora');
    await saveAdapter(rs, model.weights);
    const rsCfg = join(rs, 'adapter_config.json');
    writeFileSync(rsCfg, JSON.stringify({ ...JSON.parse(readFileSync(rsCfg, 'utf8')), use_rslora: true }));
    const a = openAdapter(rs);
    assert.equal(a.lora.alpha / a.lora.rank, 4 / Math.sqrt(2));
    a.tensors.close();
  });

  it("an adapter finds its base from any working folder: a relative base_model_name_or_path is read from the adapter's folder", () => {
    // saveAdapter was given 'base32', which does not exist from this process's folder: kept as written.
    const cfgPath = join(adapterDir, 'adapter_config.json'),
      cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
    assert.equal(cfg.base_model_name_or_path, 'base32');
    assert.throws(
      () => adapterBaseModel(adapterDir),
      (err: Error) =>
        err.message ===
        `${cfgPath}: base_model_name_or_path base32 does not exist (looked for ${join(adapterDir, 'base32')})`,
    );
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, base_model_name_or_path: '../base32' }));
    assert.equal(adapterBaseModel(adapterDir), base);
    writeFileSync(cfgPath, JSON.stringify({ ...cfg, base_model_name_or_path: base }));
    assert.equal(adapterBaseModel(adapterDir), base);
    writeFileSync(cfgPath, JSON.stringify(cfg));
  });

  it('the merged model gives the logits of base + adapter (1e-5), and PyTorch agrees on both', async () => {
    const out = join(dir, 'merged_peft');
    const r = await quietly(mergeCommand, [
      '--src_ckpt_path_or_dir',
      base,
      '--lora_checkpoint',
      adapterDir,
      '--dst_ckpt_dir',
      out,
      '--save_format',
      'safetensors',
    ]);
    assert.match(r.out, /Merging 8 LoRA adapters with scale 2 \(from .*adapter_config.json\)/);
    const mark = core.arena.mark();
    const merged = await loadModel(
      core,
      join(out, 'merged_lora.safetensors'),
      { mode: 'finetune', weightType: WeightType.F32 },
      { config },
    );
    const mergedLogits = logitsOf(merged);
    assertClose(mergedLogits, withAdapter, 1e-5, 'merged vs base + adapter');
    assertClose(referenceStep(model, ids, ids, 2, 8).logits, withAdapter, 1e-4, 'PyTorch base + adapter');
    assertClose(
      referenceStep(merged, ids, ids, 2, 8, join(out, 'merged_lora.safetensors')).logits,
      mergedLogits,
      1e-4,
      'PyTorch on the merged file',
    );
    core.arena.release(mark);
  });

  it('a MindFormers LoRA checkpoint (mindpet names) merges with the scale of its YAML, to the same weights', async () => {
    const mf = join(dir, 'lora_finetuned.ckpt'),
      yaml = join(dir, 'lora.yaml');
    writeFileSync(yaml, YAML);
    await writeTensors(mf, 'ckpt', modelTensors(model.weights, { layout: 'mindformers' }));
    const out = join(dir, 'merged_mf');
    await quietly(mergeCommand, ['--src_ckpt_path_or_dir', mf, '--dst_ckpt_dir', out, '--config', yaml]);
    const mergedCkpt = relayout(openTensors(join(out, 'merged_lora.ckpt')), 'mindformers', 'hf');
    const mergedPeft = openTensors(join(dir, 'merged_peft', 'merged_lora.safetensors'));
    assert.deepEqual([...mergedCkpt.tensors.keys()].sort(), [...mergedPeft.tensors.keys()].sort());
    for (const name of mergedPeft.tensors.keys())
      assert.ok(Buffer.from(await mergedCkpt.read(name)).equals(Buffer.from(await mergedPeft.read(name))), name);
    // --lora_scaling as alpha/rank agrees with the YAML
    const r = await quietly(mergeCommand, [
      '--src_ckpt_path_or_dir',
      mf,
      '--dst_ckpt_dir',
      join(dir, 'merged_frac'),
      '--lora_scaling',
      '4/2',
    ]);
    assert.match(r.out, /scale 2 \(from --lora_scaling\)/);
    // and the checkpoint loads straight into a LoRA model, factors bit-exact
    const mark = core.arena.mark();
    const reports: string[] = [];
    const loaded = await loadModel(
      core,
      mf,
      { mode: 'finetune', weightType: WeightType.F32, lora: LORA },
      { config, report: (rep) => reports.push(formatLoadReport(rep)) },
    );
    assert.deepEqual(trainables(loaded), trainables(model));
    assert.deepEqual(reports, ['Network parameters are not loaded: ([], [])']);
    core.arena.release(mark);
  });

  it('the scale is never a silent default, and scales that disagree are an error', async () => {
    const mf = join(dir, 'lora_finetuned.ckpt');
    await assert.rejects(
      quietly(mergeCommand, ['--src_ckpt_path_or_dir', mf, '--dst_ckpt_dir', join(dir, 'no_scale')]),
      /the LoRA scale is unknown: pass --config/,
    );
    await assert.rejects(
      quietly(mergeCommand, [
        '--src_ckpt_path_or_dir',
        base,
        '--lora_checkpoint',
        adapterDir,
        '--dst_ckpt_dir',
        join(dir, 'bad_scale'),
        '--lora_scaling',
        '1',
      ]),
      /the LoRA scale 1 from --lora_scaling disagrees with 2 from .*adapter_config.json/,
    );
    await assert.rejects(
      quietly(mergeCommand, [
        '--src_ckpt_path_or_dir',
        base,
        '--dst_ckpt_dir',
        join(dir, 'no_lora'),
        '--lora_scaling',
        '2',
      ]),
      /no LoRA factors/,
    );
  });

  it('a factor that cannot be merged is an error naming it, and nothing is written', async () => {
    const factors = openTensors(join(adapterDir, 'adapter_model.safetensors')),
      tensors: TensorToWrite[] = [];
    for (const [name, info] of factors.tensors)
      tensors.push({ name, dtype: info.dtype, shape: info.shape, data: await factors.read(name) });
    factors.close();
    const peft = (name: string) => `${PEFT_PREFIX}${name}`,
      q0 = (which: 'A' | 'B') => peft(`model.layers.0.self_attn.q_proj.lora_${which}.weight`);
    const cases: [string, TensorToWrite[], RegExp][] = [
      [
        'a layer the base does not have',
        [
          ...tensors,
          ...tensors
            .filter((t) => t.name.startsWith(q0('A').slice(0, -'A.weight'.length)))
            .map((t) => ({ ...t, name: t.name.replace('layers.0.', 'layers.2.') })),
        ],
        /: LoRA factor model\.layers\.2\.self_attn\.q_proj\.lora_[AB]\.weight has no weight model\.layers\.2\.self_attn\.q_proj\.weight in \S+ to merge into$/,
      ],
      [
        'no partner',
        tensors.filter((t) => t.name !== q0('B')),
        /: LoRA factor model\.layers\.0\.self_attn\.q_proj\.lora_A\.weight has no model\.layers\.0\.self_attn\.q_proj\.lora_B\.weight to merge with$/,
      ],
    ];
    for (const [what, written, message] of cases) {
      const bad = join(dir, `unmergeable-${what.replace(/ /g, '-')}`),
        out = `${bad}-merged`;
      mkdirSync(bad);
      copyFileSync(join(adapterDir, 'adapter_config.json'), join(bad, 'adapter_config.json'));
      writeSafetensors(join(bad, 'adapter_model.safetensors'), written);
      await assert.rejects(
        quietly(mergeCommand, ['--src_ckpt_path_or_dir', base, '--lora_checkpoint', bad, '--dst_ckpt_dir', out]),
        (err: Error) => {
          assert.match(err.message, message, what);
          return true;
        },
      );
      assert.deepEqual(existsSync(out) ? readdirSync(out) : [], [], `${what}: nothing written`);
    }
  });

  it("loading a base checkpoint into a LoRA model reports the adapters as not loaded, in the file's own names", async () => {
    const mark = core.arena.mark();
    const lines: string[] = [];
    await loadModel(
      core,
      join(dir, 'merged_mf', 'merged_lora.ckpt'),
      { mode: 'finetune', weightType: WeightType.F32, lora: { ...LORA, targetModules: '.*wq' } },
      { config, report: (r) => lines.push(formatLoadReport(r)) },
    );
    assert.deepEqual(lines, [
      "Network parameters are not loaded: (['model.layers.0.attention.wq.mindpet_delta_lora_a', 'model.layers.0.attention.wq.mindpet_delta_lora_b', 'model.layers.1.attention.wq.mindpet_delta_lora_a', 'model.layers.1.attention.wq.mindpet_delta_lora_b'], [])",
    ]);
    await assert.rejects(
      loadModel(
        core,
        join(dir, 'lora_finetuned.ckpt'),
        { mode: 'finetune', weightType: WeightType.F32, lora: { ...LORA, rank: 4 } },
        { config },
      ),
      /tensor model.layers.0.attention.wq.mindpet_delta_lora_a has shape \[2,16\], the model expects \[4,16\]/,
    );
    core.arena.release(mark);
  });
});
