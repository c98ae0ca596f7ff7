/**
 * A model made with LoRA through the public entry has its adapters initialised as PEFT does, with
 * nothing left to the caller: A uniform in ±1/√in from the seed, B zero. Properties that follow:
 * the first step already gives every B a non-zero gradient (and A a zero one, since B is zero),
 * the logits equal the base model's, and the seed alone decides A.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadCore, loadModel, WeightType, type LlamaModel } from '../../src/index.ts';
import { TINY } from '../fixtures.ts';

const LORA = { rank: 2, alpha: 4, dropout: 0, targetModules: ['wq', 'wv', 'w2'] };

/** Every LoRA adapter of the model with its factors' values and gradients (copies). */
function adapters(model: LlamaModel) {
  const f = (ptr: number, n: number) => Float32Array.from(model.core.arena.f32(ptr, n));
  return model.weights.layers.flatMap((layer) =>
    Object.entries(layer.lora).map(([kind, ad]) => ({
      kind,
      cols: ad!.a.shape[1],
      a: f(ad!.a.ptr, ad!.a.n),
      b: f(ad!.b.ptr, ad!.b.n),
      gradA: f(ad!.a.grad, ad!.a.n),
      gradB: f(ad!.b.grad, ad!.b.n),
    })),
  );
}

describe('LoRA made with the model', async () => {
  const core = await loadCore();
  const ids = Int32Array.from([1, 450, 2996, 1701, 432, 1204, 975, 13, 1576, 263, 1243, 310]); // [1, 12]: B 1, S 11

  it('A is uniform in ±1/√in and B zero, and the first step gives every B a non-zero gradient', async () => {
    const mark = core.arena.mark();
    const model = await loadModel(core, TINY, { mode: 'finetune', weightType: WeightType.F32, lora: LORA, seed: 5 });
    const before = adapters(model);
    assert.equal(before.length, 2 * 3);
    for (const ad of before) {
      const bound = 1 / Math.sqrt(ad.cols);
      assert.ok(ad.a.every((v) => Math.abs(v) <= bound) && ad.a.some((v) => v !== 0), `${ad.kind} A within ±${bound}`);
      assert.ok(
        ad.a.some((v) => v > bound / 2) && ad.a.some((v) => v < -bound / 2),
        `${ad.kind} A spread over its range`,
      );
      assert.ok(
        ad.b.every((v) => v === 0),
        `${ad.kind} B zero`,
      );
    }
    model.weights.zeroGrads();
    const { loss } = model.step(ids, null, 1, 11, true);
    assert.ok(Number.isFinite(loss) && loss > 0);
    for (const ad of adapters(model)) {
      assert.ok(
        ad.gradB.some((g) => g !== 0),
        `${ad.kind} B has a non-zero gradient on step 1`,
      );
      assert.ok(
        ad.gradA.every((g) => g === 0),
        `${ad.kind} A's gradient is zero while B is zero`,
      );
    }
    core.arena.release(mark);
  });

  it("the logits equal the base model's, and the seed alone decides A", async () => {
    const mark = core.arena.mark();
    const V = 3000,
      logits = (m: LlamaModel) => {
        const out = new Float32Array(11 * V);
        m.step(ids, null, 1, 11, false, out);
        return out;
      };
    const base = await loadModel(core, TINY, { mode: 'finetune', weightType: WeightType.F32 });
    const want = logits(base);
    const [m1, m2, m3] = [5, 5, 6].map((seed) =>
      loadModel(core, TINY, { mode: 'finetune', weightType: WeightType.F32, lora: LORA, seed }),
    );
    assert.deepEqual(logits(await m1), want);
    const [a1, a2, a3] = [await m1, await m2, await m3].map((m) => adapters(m).map((ad) => ad.a));
    assert.deepEqual(a1, a2);
    assert.notDeepEqual(a1, a3);
    core.arena.release(mark);
  });
});
