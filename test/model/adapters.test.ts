/**
 * Adapters that do not fit their base are refused, never loaded in part: factors for more layers
 * than the base has (serve's adapters and loadModel's --adapter both dropped the extra layers),
 * a missing factor, a factor of another shape or rank, and a module the model does not have, each
 * in one line naming the adapter's file (and the tensor). A fitting adapter loads its factors as
 * written.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadModel } from '../../src/checkpoint/load.ts';
import { adapterConfig, PEFT_PREFIX } from '../../src/checkpoint/peft.ts';
import { writeSafetensors, type TensorToWrite } from '../../src/checkpoint/safetensors.ts';
import { loadServedAdapter } from '../../src/model/adapters.ts';
import type { LlamaConfig } from '../../src/model/config.ts';
import { linearShape, type LinearKind, type LoraConfig } from '../../src/model/lora.ts';
import { loraTensorName } from '../../src/model/weights.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';
import { TINY } from '../fixtures.ts';
import { tinyConfig } from './fixtures.ts';

const RANK = 2,
  KINDS: LinearKind[] = ['wq', 'w2'],
  LORA: LoraConfig = { rank: RANK, alpha: 4, dropout: 0, targetModules: ['q_proj', 'down_proj'] };

/** The random factors of an adapter on `KINDS` of `nLayers` layers of `config`, under the names of the file. */
function factors(config: LlamaConfig, nLayers: number): TensorToWrite[] {
  const rng = new Rng(5),
    out: TensorToWrite[] = [];
  for (let l = 0; l < nLayers; l++)
    for (const kind of KINDS) {
      const [rows, cols] = linearShape(config, kind);
      for (const [which, shape] of [
        ['A', [RANK, cols]],
        ['B', [rows, RANK]],
      ] as const) {
        const data = rng.fillNormal(new Float32Array(shape[0] * shape[1]), 1);
        out.push({ name: PEFT_PREFIX + loraTensorName(l, kind, which), dtype: 'F32', shape: [...shape], data });
      }
    }
  return out;
}

describe('adapters that do not fit the base', async () => {
  const core = await loadCore(),
    tmp = mkdtempSync(join(tmpdir(), 'adapters-'));
  after(() => rmSync(tmp, { recursive: true, force: true }));
  let count = 0;
  /** Writes an adapter folder of `tensors`; returns its folder and its safetensors file. */
  const adapter = (tensors: TensorToWrite[]) => {
    const dir = join(tmp, `a${count++}`);
    mkdirSync(dir);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify(adapterConfig(LORA)));
    writeSafetensors(join(dir, 'adapter_model.safetensors'), tensors);
    return { dir, file: join(dir, 'adapter_model.safetensors') };
  };
  const config = tinyConfig({ nLayers: 2 });
  const refusal = async (tensors: TensorToWrite[], message: (file: string) => string) => {
    const { dir, file } = adapter(tensors);
    const mark = core.arena.mark();
    await assert.rejects(loadServedAdapter(core, config, 'x', dir), (err: Error) => {
      assert.equal(err.message, message(file));
      return true;
    });
    core.arena.release(mark);
  };

  it('a fitting adapter loads its factors as written', async () => {
    const tensors = factors(config, 2),
      { dir } = adapter(tensors);
    const mark = core.arena.mark();
    const served = await loadServedAdapter(core, config, 'x', dir);
    assert.equal(served.layers.length, 2);
    const b = served.layers[1].w2!,
      written = tensors.find((t) => t.name === `${PEFT_PREFIX}model.layers.1.mlp.down_proj.lora_B.weight`)!;
    assert.deepEqual(core.arena.f32(b.b, config.dim * RANK), written.data);
    assert.equal(b.scale, LORA.alpha / RANK);
    core.arena.release(mark);
  });

  it('factors for more layers than the base are refused, for serve and for loadModel', async () => {
    await refusal(factors(config, 3), (file) => `${file}: LoRA factors for 3 layers, the base model has 2`);
    // The tiny checkpoint has 2 layers too; its own shape gives the factors.
    const tinyShape = tinyConfig({ dim: 16, nHeads: 4, nKvHeads: 4, ffnDim: 64, vocabSize: 3000 }),
      { dir, file } = adapter(factors(tinyShape, 3));
    const mark = core.arena.mark();
    await assert.rejects(
      loadModel(core, TINY, { mode: 'finetune', weightType: WeightType.F32 }, { adapter: dir }),
      (err: Error) => err.message === `${file}: LoRA factors for 3 layers, the base model has 2`,
    );
    core.arena.release(mark);
  });

  it('a missing factor, another shape or rank, and an unknown module are refused naming the tensor', async () => {
    const name = (l: number, kind: LinearKind, which: 'A' | 'B') => PEFT_PREFIX + loraTensorName(l, kind, which);
    const q1a = name(1, 'wq', 'A');
    await refusal(
      factors(config, 2).filter((t) => t.name !== q1a),
      (file) => `${file}: adapter x has no tensor ${q1a} (its other layers have q_proj)`,
    );
    const widened = factors(config, 2).map((t) =>
      t.name === q1a ? { ...t, shape: [RANK, config.dim + 1], data: new Float32Array(RANK * (config.dim + 1)) } : t,
    );
    await refusal(
      widened,
      (file) => `${file}: tensor ${q1a} has shape [${RANK},${config.dim + 1}], the base needs [${RANK},${config.dim}]`,
    );
    const ranked = factors(config, 2).map((t) =>
      t.name === q1a ? { ...t, shape: [RANK + 1, config.dim], data: new Float32Array((RANK + 1) * config.dim) } : t,
    );
    await refusal(
      ranked,
      (file) => `${file}: tensor ${q1a} has shape [${RANK + 1},${config.dim}], rank ${RANK} expected in dimension 0`,
    );
    const unknown = q1a.replace('q_proj', 'x_proj');
    await refusal(
      factors(config, 2).map((t) => (t.name === q1a ? { ...t, name: unknown } : t)),
      (file) => `${file}: tensor ${unknown} is not a LoRA factor of a Llama linear layer`,
    );
  });
});
