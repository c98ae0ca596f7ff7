/**
 * The high-level API on the tiny Llama in ../shared with a small SentencePiece model trained on
 * the spot (python3-sentencepiece) as its tokenizer: a model made through Llama.fromPretrained
 * trains its LoRA from the first step; its loss equals PyTorch's on the same file; streamed text
 * is what SentencePiece decodes the streamed ids to, and the ids are the argmax of the full
 * forward at each step; an abort stops the stream; finetune on in-memory records lowers the loss,
 * and the saved adapter loaded back gives the fine-tuned model's logits; Alpaca records in memory
 * and as shards made by llama_preprocess give the same losses.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { finetune, Llama } from '../../src/index.ts';
import { modelTensors } from '../../src/checkpoint/model_tensors.ts';
import { writeTensors } from '../../src/checkpoint/write.ts';
import { argmax } from '../../src/generate/sampling.ts';
import { referenceStep } from '../model/harness.ts';
import { oracleLines, scratchDir, trainModels } from '../reference/oracles.ts';
import { ALPACA, alpacaQaShards, TINY } from '../fixtures.ts';

const LORA = { rank: 4, alpha: 8, dropout: 0, targetModules: ['wq', 'wk', 'wv', 'wo'] };

describe('Llama, generate and finetune', () => {
  const dir = scratchDir();
  const tokenizerModel = trainModels(dir).bpeBytes; // 900 pieces, byte fallback: fits the tiny model's 3000
  const folder = join(dir, 'tiny');
  mkdirSync(folder);
  for (const f of ['config.json', 'model.safetensors']) symlinkSync(join(TINY, f), join(folder, f));
  copyFileSync(tokenizerModel, join(folder, 'tokenizer.model'));

  it("a model made with loraConfig trains its LoRA on step 1, and its loss is PyTorch's", async () => {
    const llama = await Llama.fromPretrained(folder, { loraConfig: LORA, seed: 3 });
    const ids = Int32Array.from(
      llama.tokenizer.encode('Give three tips for staying healthy.', { bos: true, eos: false }),
    );
    llama.model.weights.zeroGrads();
    const { loss } = llama.forwardBackward({ inputIds: ids, batchSize: 1 });
    const want = referenceStep(llama.model, ids, ids, 1, ids.length - 1, join(TINY, 'model.safetensors'));
    assert.ok(Math.abs(loss - want.loss) <= 1e-5 * Math.abs(want.loss), `loss ${loss}, PyTorch ${want.loss}`);
    const arena = llama.model.core.arena;
    for (const [l, layer] of llama.model.weights.layers.entries()) {
      for (const [kind, ad] of Object.entries(layer.lora)) {
        assert.ok(
          arena.f32(ad!.b.grad, ad!.b.n).some((g) => g !== 0),
          `layer ${l} ${kind}: LoRA B's gradient is zero on step 1`,
        );
      }
    }
    assert.throws(
      () => llama.forward({ inputIds: ids, batchSize: 1, seqLength: 3, where: 'the test batch' }),
      /^Error: the test batch: inputIds has \d+ ids, which is not batchSize 1 rows of seqLength \+ 1 = 4 ids/,
    );
  });

  it('generate streams the argmax of the full forward, as text SentencePiece decodes; complete joins it; an abort stops it', async () => {
    const llama = await Llama.fromPretrained(folder);
    const prompt = 'Name three colours';
    const pieces = [];
    for await (const piece of llama.generate(prompt, { maxNewTokens: 10 })) pieces.push(piece);
    assert.ok(pieces.length >= 1 && pieces.length <= 10);
    const ids = pieces.map((p) => p.id),
      promptIds = llama.tokenizer.encode(prompt, { bos: true, eos: false });
    for (let i = 0; i < ids.length; i++) {
      const row = Int32Array.from([...promptIds, ...ids.slice(0, i), 0]),
        S = row.length - 1,
        V = llama.config.vocabSize;
      const logits = new Float32Array(S * V);
      llama.forward({ inputIds: row, batchSize: 1, logits });
      assert.equal(
        ids[i],
        argmax(logits.subarray((S - 1) * V, (S - 1) * V + llama.tokenizer.vocabSize)),
        `token ${i} (the argmax within the tokenizer's vocabulary)`,
      );
    }
    const [decoded] = oracleLines<string>(
      'sentencepiece_oracle.py',
      [tokenizerModel, 'decode'],
      [ids.filter((id) => id !== llama.config.eosId)],
    );
    assert.equal(pieces.map((p) => p.text).join(''), decoded);
    assert.equal(await llama.complete(prompt, { maxNewTokens: 10 }), decoded);

    const used = llama.model.core.arena.used,
      stop = new AbortController();
    const seen: number[] = [];
    await assert.rejects(
      async () => {
        for await (const piece of llama.generate(prompt, { maxNewTokens: 50, signal: stop.signal })) {
          seen.push(piece.id);
          if (seen.length === 2) stop.abort();
        }
      },
      { name: 'AbortError' },
    );
    assert.equal(seen.length, 2);
    assert.equal(llama.model.core.arena.used, used, 'the KV cache of the stopped generation is freed');
  });

  it('finetune on in-memory records lowers the loss; the saved adapter loads back with the same logits', async () => {
    const llama = await Llama.fromPretrained(folder, {
      loraConfig: { ...LORA, targetModules: ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] },
    });
    const records = [
      { instruction: 'Name a colour.', output: 'Blue.' },
      { instruction: 'Name a fruit.', output: 'A pear.' },
    ];
    const steps: number[] = [];
    const adapter = await finetune({
      model: llama,
      dataset: records,
      config: { epochs: 10, batchSize: 2, learningRate: 5e-3, seqLength: 192, schedule: 'constant' },
      onStep: (p) => steps.push(p.step),
    });
    assert.deepEqual(
      steps,
      Array.from({ length: 10 }, (_, i) => i + 1),
    );
    // The frozen random head (rows of norm about 0.08 over a unit-RMS state) bounds the logits to a
    // few tenths: the loss can fall only a little below ln 3000 = 8.006, but it must fall.
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const [first, last] = [mean(adapter.losses.slice(0, 3)), mean(adapter.losses.slice(-3))];
    assert.ok(
      last < first - 0.03,
      `the loss fell from ${first} (first 3 steps) to ${last} (last 3): ${adapter.losses.join(', ')}`,
    );
    const out = join(dir, 'adapter');
    await adapter.save(out);
    const tuned = await Llama.fromPretrained(folder, { adapter: out });
    const fromFolder = await Llama.fromPretrained(out);
    const ids = Int32Array.from(llama.tokenizer.encode(records[0].instruction, { bos: true, eos: false }));
    const logitsOf = (m: Llama) => {
      const l = new Float32Array((ids.length - 1) * m.config.vocabSize);
      m.forward({ inputIds: ids, batchSize: 1, logits: l });
      return l;
    };
    const want = logitsOf(llama);
    assert.deepEqual(logitsOf(tuned), want);
    assert.deepEqual(logitsOf(fromFolder), want);
  });

  it('finetune over a shard folder of the same rows takes the same steps as over the records in memory', async () => {
    // The first four Alpaca records: in memory as they are, and as shards made by alpaca_converter and llama_preprocess.
    const records = JSON.parse(readFileSync(ALPACA, 'utf8')).slice(0, 4);
    const config = { epochs: 2, batchSize: 2, learningRate: 5e-3, seqLength: 192 };
    const inMemory = await finetune({
      model: await Llama.fromPretrained(folder, { loraConfig: LORA }),
      dataset: records,
      config,
    });
    const made = join(dir, 'alpaca-shards');
    mkdirSync(made);
    const shards = alpacaQaShards(made, 'shards', 192, 4, join(folder, 'tokenizer.model'));
    const fromShards = await finetune({
      model: await Llama.fromPretrained(folder, { loraConfig: LORA }),
      dataset: shards,
      config,
    });
    assert.equal(fromShards.losses.length, 4);
    assert.deepEqual(fromShards.losses, inMemory.losses);
  });

  it('a .safetensors file, a MindSpore .ckpt file and the bytes of the files make the model the folder makes', async () => {
    const fromFolder = await Llama.fromPretrained(folder);
    const ckptDir = join(dir, 'ckpt');
    mkdirSync(ckptDir);
    symlinkSync(join(TINY, 'config.json'), join(ckptDir, 'config.json'));
    copyFileSync(tokenizerModel, join(ckptDir, 'tokenizer.model'));
    await writeTensors(join(ckptDir, 'model.ckpt'), 'ckpt', modelTensors(fromFolder.model.weights));
    const read = (f: string) => new Uint8Array(readFileSync(join(folder, f)));
    const ids = Int32Array.from(fromFolder.tokenizer.encode('Name a fruit and a colour.', { bos: true, eos: false }));
    const logitsOf = (m: Llama) => {
      const l = new Float32Array((ids.length - 1) * m.config.vocabSize);
      m.forward({ inputIds: ids, batchSize: 1, logits: l });
      return l;
    };
    const want = logitsOf(fromFolder);
    for (const made of [
      await Llama.fromPretrained(join(folder, 'model.safetensors')),
      await Llama.fromPretrained(join(ckptDir, 'model.ckpt')),
      await Llama.fromPretrained({
        config: read('config.json'),
        weights: read('model.safetensors'),
        tokenizer: read('tokenizer.model'),
      }),
    ]) {
      assert.deepEqual(
        made.tokenizer.encode('Name a fruit and a colour.'),
        fromFolder.tokenizer.encode('Name a fruit and a colour.'),
      );
      assert.deepEqual(logitsOf(made), want);
    }
  });

  it('bad input: one line naming the path, the option or the record', async () => {
    await assert.rejects(Llama.fromPretrained(join(dir, 'nowhere')), /nowhere: no such file or folder/);
    await assert.rejects(
      Llama.fromPretrained(folder, { dtype: 'f16' as 'f32' }),
      /dtype "f16": expected one of f32, bf16, int8/,
    );
    const bytesOf = (config: Uint8Array) => ({
      config,
      weights: new Uint8Array(readFileSync(join(folder, 'model.safetensors'))),
      tokenizer: new Uint8Array(readFileSync(join(folder, 'tokenizer.model'))),
    });
    await assert.rejects(
      Llama.fromPretrained(bytesOf(new TextEncoder().encode('{\n  "hidden_size": 16,\n}'))),
      /^Error: config\.json: invalid JSON at line 3, column 1: unexpected "}" where a property name in double quotes was expected$/,
    );
    await assert.rejects(
      Llama.fromPretrained(bytesOf(Uint8Array.of(0x7b, 0xff, 0x7d))),
      /^Error: config\.json: not UTF-8 text \(invalid byte at offset 1\)$/,
    );
    const plain = await Llama.fromPretrained(folder);
    await assert.rejects(finetune({ model: plain, dataset: [] }), /the model has no LoRA adapters/);
    const lora = await Llama.fromPretrained(folder, { loraConfig: LORA });
    await assert.rejects(
      finetune({ model: lora, dataset: [{ instruction: 'x' } as never] }),
      /records: record 1.*missing "output"/,
    );
    await assert.rejects(
      finetune({ model: lora, dataset: [{ inputIds: [1, 2, 3] }, { inputIds: [1, 2] }] }),
      /records\[1\]: inputIds has 2 ids/,
    );
    // Nothing to learn ends in an error, not in an adapter trained on a loss of 0.
    await assert.rejects(
      finetune({ model: lora, dataset: [{ inputIds: [1, 2, 3], labels: [-100, -100, -100] }] }),
      /records: every label is -100/,
    );
    // An abort before the first step leaves the caller's LoRA as it was.
    const probe = { inputIds: Int32Array.of(1, 5, 9, 2), batchSize: 1 };
    const before = lora.forward(probe).loss;
    await assert.rejects(
      finetune({
        model: lora,
        dataset: [{ inputIds: [1, 5, 9, 2] }, { inputIds: [1, 7, 3, 2] }],
        signal: AbortSignal.abort(),
      }),
      /abort/i,
    );
    assert.equal(lora.forward(probe).loss, before);
  });
});
