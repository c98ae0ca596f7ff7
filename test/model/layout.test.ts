/**
 * The memory plan is the layout the model uses: every entry's bytes hold its shape, the
 * allocations of a model's entries never overlap and lie in the memory it took, each tensor sits
 * at its entry's offset with its entry's shape, and every key is taken exactly once (a layout
 * refuses a key twice, a key it lacks, and an entry nothing took).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { LlamaModel, type ModelOptions } from '../../src/model/llama.ts';
import { elementBytes, Layout, partKey, planEntry, type PlanEntry } from '../../src/model/layout.ts';
import type { LlamaConfig } from '../../src/model/config.ts';
import { tinyConfig } from './fixtures.ts';

/** Checks each entry's bytes against its shape, and that the offsets are 64-byte aligned, in [lo, hi) and disjoint. */
function checkAllocations(layouts: Layout[], lo: number, hi: number): void {
  const ranges: [number, number, string][] = [];
  for (const layout of layouts)
    for (const e of layout.entries) {
      const need = e.shape.reduce((a, b) => a * b, 1) * elementBytes(e.type);
      assert.ok(e.bytes % 64 === 0 && e.bytes >= need && e.bytes - need < 64, `${e.key}: ${e.bytes} bytes for ${need}`);
      const at = layout.offset(e.key)!;
      assert.ok(at % 64 === 0 && at >= lo && at + e.bytes <= hi, `${e.key} at ${at} outside [${lo}, ${hi})`);
      ranges.push([at, at + e.bytes, e.key]);
    }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++)
    assert.ok(ranges[i - 1][1] <= ranges[i][0], `${ranges[i - 1][2]} overlaps ${ranges[i][2]}`);
}

/** Checks that every parameter the model uses sits at its entry's offset, with its entry's shape. */
function checkTensors(model: LlamaModel): void {
  const w = model.weights,
    entry = (key: string) => w.layout.entries.find((e) => e.key === key);
  for (const t of w.trainable) {
    assert.deepEqual(entry(t.name)?.shape, t.shape, t.name);
    const parts = { ptr: t.name, grad: partKey(t.name, 'grad'), m: partKey(t.name, 'm'), v: partKey(t.name, 'v') };
    for (const [field, key] of Object.entries(parts))
      assert.equal(w.layout.offset(key), t[field as keyof typeof parts], `${key}`);
  }
  for (const t of w.baseTensors()) {
    if (t.matrix?.host || model.options.mode === 'train') continue; // outside the memory, or a trainable (above)
    assert.deepEqual(entry(t.name)?.shape, t.shape, t.name);
    assert.equal(w.layout.offset(t.name), t.matrix?.ptr ?? t.vector, t.name);
    if (t.matrix?.wt === WeightType.I8) assert.equal(w.layout.offset(partKey(t.name, 'scales')), t.matrix.scale);
  }
}

describe('memory layout', async () => {
  const core = await loadCore();
  const lora = { rank: 4, alpha: 8, dropout: 0.05, targetModules: '.*wq|.*wv|.*wo|.*w2' };
  const cases: [string, LlamaConfig, ModelOptions][] = [
    ['finetune, int8, dropout', tinyConfig({ nKvHeads: 2 }), { mode: 'finetune', weightType: WeightType.I8, lora }],
    [
      'finetune, bf16, tied, recompute, no dropout',
      tinyConfig({ tieEmbeddings: true }),
      { mode: 'finetune', weightType: WeightType.BF16, lora: { ...lora, dropout: 0 }, recompute: true },
    ],
    ['finetune, Q8_0', tinyConfig({ ffnDim: 64 }), { mode: 'finetune', weightType: WeightType.Q8_0, lora }],
    [
      'finetune, int8, streamed layers',
      tinyConfig({ nLayers: 3 }),
      { mode: 'finetune', weightType: WeightType.I8, lora, streamLayers: true },
    ],
    [
      'train, Qwen2 biases',
      tinyConfig({ family: 'qwen2', qkvBias: true, nKvHeads: 2 }),
      { mode: 'train', weightType: WeightType.F32 },
    ],
    [
      'Qwen3 q/k norms, recompute',
      tinyConfig({ family: 'qwen3', qkNorm: true, dim: 16, nHeads: 2, nKvHeads: 1, headSize: 24 }),
      { mode: 'finetune', weightType: WeightType.F32, lora, recompute: true },
    ],
  ];
  for (const [name, config, options] of cases) {
    it(`places every entry of the plan once, apart, in the model's memory (${name})`, () => {
      const mark = core.arena.mark();
      const model = new LlamaModel(core, config, options);
      model.reserve(2, 7);
      const layouts = [model.weights.layout, model.stepLayout!];
      checkAllocations(layouts, mark, core.arena.mark());
      for (const layout of layouts) assert.doesNotThrow(() => layout.finish());
      checkTensors(model);
      core.arena.release(mark);
    });
  }

  it("a model over another model's base takes its base tensors (and int8 scales) by key, and allocates none", () => {
    const mark = core.arena.mark();
    const config = tinyConfig({ nKvHeads: 2 }),
      options: ModelOptions = { mode: 'finetune', weightType: WeightType.I8, lora };
    const holder = new LlamaModel(core, config, options);
    const held = new LlamaModel(core, config, { ...options, sharedBase: holder.weights.baseLayout() });
    assert.ok(
      held.weights.layout.entries.every((e) => e.category !== 'weights'),
      'only LoRA, its gradients and moments',
    );
    const mine = holder.weights.baseTensors(),
      theirs = held.weights.baseTensors();
    theirs.forEach((t, i) => {
      assert.equal(t.matrix?.ptr ?? t.vector, mine[i].matrix?.ptr ?? mine[i].vector, t.name);
      assert.equal(t.matrix?.scale, mine[i].matrix?.scale, t.name);
    });
    checkAllocations([holder.weights.layout, held.weights.layout], mark, core.arena.mark());
    core.arena.release(mark);
  });

  it('refuses a key planned twice (allocating nothing), a key taken twice or never planned, and an entry left unused', () => {
    const entries = (...keys: string[]): PlanEntry[] => keys.map((k) => planEntry(k, [3], 'f32', 'activations'));
    const mark = core.arena.mark();
    assert.throws(
      () => new Layout(core.arena, entries('a', 'b', 'a'), 'test layout'),
      /^Error: test layout: the memory plan has a twice$/,
    );
    assert.equal(core.arena.mark(), mark, 'nothing was allocated');
    const layout = new Layout(core.arena, entries('a', 'b', 'c'), 'test layout');
    layout.take('a');
    assert.throws(() => layout.take('a'), /test layout: a is taken twice/);
    assert.throws(() => layout.take('d'), /test layout: the memory plan has no d/);
    layout.take('c');
    assert.throws(() => layout.finish(), /test layout: the memory plan's b went unused/);
    layout.take('b');
    layout.finish();
    core.arena.release(mark);
  });
});
