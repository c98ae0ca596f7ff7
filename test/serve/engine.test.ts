/**
 * The serve scheduler on a tiny random model: a request past its deadline stops early and gives
 * its cache back; a full queue refuses at once; drain lets the running request finish, cancels
 * the waiting one and refuses new ones; greedy tokens through the engine equal generate()'s, with
 * and without a repetition penalty (over the prompt and the tokens so far).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { generate } from '../../src/generate/generate.ts';
import { SEED_SAMPLING } from '../../src/generate/sampling.ts';
import { BatchDecoder } from '../../src/model/batch_decode.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Engine, EngineBusy, type GenerationRequest } from '../../src/serve/engine.ts';
import { tinyConfig } from '../model/fixtures.ts';

describe('serve engine', async () => {
  const core = await loadCore();
  const model = new LlamaModel(core, tinyConfig({ maxSeqLen: 512 }), { mode: 'finetune', weightType: WeightType.F32 });
  model.weights.initRandom(4, 0.3);
  const request = (maxTokens: number): GenerationRequest => ({
    prompt: [1, 7, 9],
    maxTokens,
    sampling: { ...SEED_SAMPLING, doSample: false },
    seed: 0,
    stopIds: [],
    onToken: () => {},
  });

  it('greedy tokens equal generate(); a request past its deadline stops early and frees its cache', async () => {
    const decoder = new BatchDecoder(model, 2, 512);
    const engine = new Engine(decoder, { maxQueue: 4, deadlineMs: 60_000, vocabLimit: model.config.vocabSize });
    const full = await engine.submit(request(40));
    assert.deepEqual(full.tokens, generate(model, [1, 7, 9], { maxNewTokens: 40, eosId: -1 }));
    assert.equal(full.finish, 'length');
    const hurried = new Engine(decoder, { maxQueue: 4, deadlineMs: 30, vocabLimit: model.config.vocabSize });
    const late = await hurried.submit(request(500));
    assert.equal(late.finish, 'deadline');
    assert.ok(late.tokens.length < 500, `${late.tokens.length} tokens`);
    assert.equal(decoder.free, 2);
  });

  it('with a repetition penalty, greedy tokens equal generate() with the same penalty', async () => {
    const decoder = new BatchDecoder(model, 1, 512);
    const engine = new Engine(decoder, { maxQueue: 1, deadlineMs: 60_000, vocabLimit: model.config.vocabSize });
    const sampling = { ...SEED_SAMPLING, doSample: false, repetitionPenalty: 3 };
    const penalized = await engine.submit({ ...request(40), sampling });
    assert.deepEqual(penalized.tokens, generate(model, [1, 7, 9], { ...sampling, maxNewTokens: 40, eosId: -1 }));
    assert.notDeepEqual(
      penalized.tokens,
      generate(model, [1, 7, 9], { maxNewTokens: 40, eosId: -1 }),
      'the penalty changes the tokens',
    );
  });

  it("ids past the tokenizer's size (a model's padded rows) are never sampled: greedy tokens equal generate() with that limit", async () => {
    const decoder = new BatchDecoder(model, 1, 512);
    const engine = new Engine(decoder, { maxQueue: 1, deadlineMs: 60_000, vocabLimit: 20 });
    const limited = await engine.submit(request(40));
    assert.deepEqual(limited.tokens, generate(model, [1, 7, 9], { maxNewTokens: 40, eosId: -1, vocabLimit: 20 }));
    assert.ok(
      limited.tokens.every((id) => id < 20),
      `${limited.tokens}`,
    );
    const unlimited = generate(model, [1, 7, 9], { maxNewTokens: 40, eosId: -1 });
    assert.ok(
      unlimited.some((id) => id >= 20),
      'the model alone picks ids past the limit, so the limit is what keeps them out',
    );
  });

  it('a full queue refuses at once; drain finishes the running request, cancels the waiting one, refuses new ones', async () => {
    const decoder = new BatchDecoder(model, 1, 512);
    const engine = new Engine(decoder, { maxQueue: 1, deadlineMs: 60_000, vocabLimit: model.config.vocabSize });
    const running = engine.submit(request(300));
    await new Promise((resolve) => setTimeout(resolve, 5)); // it takes the one slot
    const waiting = engine.submit(request(5));
    assert.throws(
      () => engine.submit(request(5)),
      (err: unknown) =>
        err instanceof EngineBusy && !err.draining && /1 requests running and 1 waiting/.test(err.message),
    );
    await engine.drain(60_000);
    assert.throws(
      () => engine.submit(request(5)),
      (err: unknown) => err instanceof EngineBusy && err.draining,
    );
    assert.equal((await running).finish, 'length');
    assert.equal((await running).tokens.length, 300);
    assert.equal((await waiting).finish, 'cancelled');
    assert.deepEqual(engine.load, {
      running: 0,
      queued: 0,
      finished: { stop: 0, length: 1, deadline: 0, cancelled: 1 },
    });
    assert.equal(decoder.free, 1);
  });
});
