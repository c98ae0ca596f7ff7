/**
 * convert_weight and loading across layouts, on the real checkpoint: Hugging Face → .ckpt →
 * Hugging Face is bit-exact (single file and sharded folder), the .ckpt has MindFormers' names,
 * safetensors written here give the PyTorch reference the same logits as this model, and a
 * Meta-layout checkpoint (made by PyTorch, RoPE rows interleaved) loads to the same model.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { main as convert } from '../../src/commands/convert_weight.ts';
import { loadModel, openCheckpoint } from '../../src/checkpoint/load.ts';
import { mapName } from '../../src/checkpoint/names.ts';
import { openTensors } from '../../src/checkpoint/open.ts';
import { storeTensors, writeTensors } from '../../src/checkpoint/write.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { assertClose } from '../helpers.ts';
import { referenceStep } from '../model/harness.ts';
import { runCli } from '../fixtures.ts';
import { assertSameTensors, oracleParse, quietly, scratch, TINY } from './helpers.ts';

const dir = scratch();
const HF_FILE = join(TINY, 'model.safetensors');
const ids = Int32Array.from([1, 450, 2996, 1734, 170, 432, 1720, 975, 2, 1, 1504, 318, 2999, 13, 1576, 263, 1243, 310]);

describe('convert_weight', async () => {
  const core = await loadCore();
  const ckpt = join(dir, 'llama2_tiny.ckpt');

  it('Hugging Face → .ckpt → Hugging Face is bit-exact, with MindFormers names in between', async () => {
    assert.equal((await quietly(convert, ['--model', 'llama', '--input_path', TINY, '--output_path', ckpt])).code, 0);
    const tags = oracleParse(ckpt).map((p) => p.tag);
    assert.ok(
      tags.includes('model.tok_embeddings.embedding_weight') &&
        tags.includes('model.layers.1.feed_forward.w2.weight') &&
        tags.includes('model.norm_out.weight'),
      tags.join(),
    );
    const back = join(dir, 'back.safetensors');
    const { out } = await quietly(convert, [
      '--model',
      'llama',
      '--reversed',
      '--input_path',
      ckpt,
      '--output_path',
      back,
    ]);
    assert.match(
      out,
      /^Trying to convert mindspore checkpoint in '.*llama2_tiny.ckpt'\.\nConvert mindspore checkpoint finished, the huggingface checkpoint is saved in '.*back.safetensors'\.$/,
    );
    await assertSameTensors(openTensors(back), openTensors(HF_FILE));
    // reversed into a folder: model.safetensors and the config found beside the source
    const folder = join(dir, 'hf_folder');
    await quietly(convert, [
      '--model',
      'llama',
      '--reversed',
      '--input_path',
      ckpt,
      '--output_path',
      folder,
      '--config',
      join(TINY, 'config.json'),
    ]);
    assert.ok(existsSync(join(folder, 'config.json')));
    await assertSameTensors(openTensors(folder), openTensors(HF_FILE));
  });

  it('a sharded Hugging Face folder converts to the same .ckpt, bytes for bytes', async () => {
    const sharded = join(dir, 'sharded');
    await writeTensors(sharded, 'hf', storeTensors(openTensors(HF_FILE)), { maxShardBytes: 60_000 });
    writeFileSync(join(sharded, 'config.json'), readFileSync(join(TINY, 'config.json')));
    const again = join(dir, 'from_sharded.ckpt');
    await quietly(convert, ['--model', 'llama', '--input_path', sharded, '--output_path', again]);
    assert.ok(readFileSync(again).equals(readFileSync(ckpt)));
  });

  it('--dtype fp32 stores every weight as Float32 with the same values', async () => {
    const f32 = join(dir, 'f32.ckpt');
    await quietly(convert, ['--model', 'llama', '--input_path', TINY, '--output_path', f32, '--dtype', 'fp32']);
    const params = oracleParse(f32);
    assert.ok(params.every((p) => p.type === 'Float32' && p.crc_ok));
    const a = openTensors(f32),
      b = openTensors(ckpt);
    for (const name of b.tensors.keys()) {
      const x = new Float32Array((await a.read(name)).buffer),
        y = new Uint16Array((await b.read(name)).buffer);
      assert.deepEqual(
        x,
        Float32Array.from(y, (v) => new Float32Array(new Uint32Array([v << 16]).buffer)[0]),
        name,
      );
    }
  });

  it('safetensors written here load in the PyTorch reference with the same logits as the .ckpt loaded here', async () => {
    const hfF32 = join(dir, 'f32.safetensors');
    await quietly(convert, [
      '--model',
      'llama',
      '--reversed',
      '--input_path',
      ckpt,
      '--output_path',
      hfF32,
      '--dtype',
      'fp32',
    ]);
    const config = openCheckpoint(TINY).config;
    const model = await loadModel(core, ckpt, { mode: 'finetune', weightType: WeightType.F32 }, { config });
    const logits = new Float32Array(2 * 8 * config.vocabSize);
    model.step(ids, ids, 2, 8, false, logits);
    for (const file of [hfF32, join(dir, 'back.safetensors')])
      assertClose(logits, referenceStep(model, ids, ids, 2, 8, file).logits, 1e-4, `reference logits on ${file}`);
  });

  it('a Meta-layout checkpoint (PyTorch interleaves wq and wk rows) loads and converts to the same weights', async () => {
    const meta = join(dir, 'meta');
    mkdirSync(meta);
    // Hugging Face's conversion permutes Meta → HF with view(heads, hd/2, 2, dim).transpose(1, 2); undo it here.
    execFileSync('/usr/bin/python3', [
      '-c',
      `
import sys, json, torch
sys.path.insert(0, sys.argv[3])
from llama_ref import read_safetensors, write_safetensors
w = read_safetensors(sys.argv[1]); out = {}
def unpermute(t, heads):
    rows, cols = t.shape
    return t.view(heads, 2, rows // heads // 2, cols).transpose(1, 2).reshape(rows, cols)
for k, v in w.items():
    k2 = k.replace('model.embed_tokens', 'tok_embeddings').replace('lm_head', 'output').replace('model.norm.', 'norm.').replace('model.layers.', 'layers.')
    for a, b in [('self_attn.q_proj', 'attention.wq'), ('self_attn.k_proj', 'attention.wk'), ('self_attn.v_proj', 'attention.wv'), ('self_attn.o_proj', 'attention.wo'),
                 ('mlp.gate_proj', 'feed_forward.w1'), ('mlp.down_proj', 'feed_forward.w2'), ('mlp.up_proj', 'feed_forward.w3'), ('input_layernorm', 'attention_norm'), ('post_attention_layernorm', 'ffn_norm')]:
        k2 = k2.replace(a, b)
    if '.wq.' in k2 or '.wk.' in k2:
        v = unpermute(v, 4)
    out[k2] = v
out['rope.freqs'] = torch.zeros(2)
write_safetensors(sys.argv[2] + '/consolidated.safetensors', out)
json.dump({'dim': 16, 'n_layers': 2, 'n_heads': 4, 'multiple_of': 32, 'norm_eps': 1e-5, 'vocab_size': -1}, open(sys.argv[2] + '/params.json', 'w'))
`,
      HF_FILE,
      meta,
      new URL('../reference', import.meta.url).pathname,
    ]);
    const mark = core.arena.mark();
    const reports: string[][] = [];
    const fromMeta = await loadModel(
      core,
      meta,
      { mode: 'finetune', weightType: WeightType.F32 },
      { report: (r) => reports.push(r.unused) },
    );
    assert.deepEqual(reports, [['rope.freqs']]);
    const fromHF = await loadModel(core, TINY, { mode: 'finetune', weightType: WeightType.F32 });
    const a = new Float32Array(2 * 8 * 3000),
      b = new Float32Array(2 * 8 * 3000);
    fromMeta.step(ids, ids, 2, 8, false, a);
    fromHF.step(ids, ids, 2, 8, false, b);
    assert.deepEqual(a, b);
    core.arena.release(mark);
    const metaCkpt = join(dir, 'meta.ckpt');
    await quietly(convert, ['--model', 'llama', '--input_path', meta, '--output_path', metaCkpt, '--dtype', 'bf16']);
    const want = openTensors(ckpt),
      got = openTensors(metaCkpt);
    for (const name of want.tensors.keys())
      assert.ok(Buffer.from(await got.read(name)).equals(Buffer.from(await want.read(name))), name);
    assert.deepEqual(
      [...got.tensors.keys()].filter((n) => !want.tensors.has(n)),
      ['rope.freqs'],
    );
    assert.equal(mapName('layers.0.attention.wq.weight', 'meta', 'hf'), 'model.layers.0.self_attn.q_proj.weight');
  });

  it('bad input gives one line naming the path or flag, exit code 1, and no output file', async () => {
    const out = join(dir, 'never.ckpt');
    const cases: [string[], RegExp][] = [
      [['--model', 'gpt', '--input_path', TINY, '--output_path', out], /--model gpt is not supported/],
      [
        ['--model', 'llama', '--input_path', join(dir, 'missing'), '--output_path', out],
        /missing: no such file or folder/,
      ],
      [['--model', 'llama', '--input_path', TINY, '--output_path', ckpt], /already exists.*--output_path/],
      [
        ['--model', 'llama', '--input_path', join(TINY, 'config.json'), '--output_path', out],
        /config\.json: not a safetensors file/,
      ],
      [
        ['--model', 'llama', '--input_path', TINY, '--output_path', out, '--dtype', 'int4'],
        /--dtype takes fp32, fp16 or bf16/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['convert_weight', ...args]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.ok(!existsSync(out));
    }
  });
});
