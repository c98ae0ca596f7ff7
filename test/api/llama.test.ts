/**
 * The high-level API on the tiny Llama in ../shared with a small SentencePiece model trained on
 * the spot (python3-sentencepiece) as its tokenizer: a model made through Llama.fromPretrained
 * trains its LoRA from the first step; its loss equals PyTorch's on the same file; streamed text
 * is what SentencePiece decodes the streamed ids to, and the ids are the argmax of the full
 * forward at each step; an abort stops the stream; finetune on in-memory records lowers the loss,
 * the saved adapter's files are the bytes of its toFiles(), and loaded back (from the folder or the
 * bytes) it gives the fine-tuned model's logits; Alpaca records in memory and as shards made by
 * llama_preprocess give the same losses. The portable entry fine-tunes a model made from bytes and
 * loads the adapter's bytes back onto the base's bytes with the tuned model's logits and greedy
 * tokens; adapter bytes that do not fit the base are refused naming the file and tensor.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { finetune, Llama } from '../../src/index.ts';
import * as portable from '../../src/portable.ts';
import { PEFT_PREFIX } from '../../src/checkpoint/peft_adapter.ts';
import { SafetensorsFile } from '../../src/checkpoint/safetensors_file.ts';
import { safetensorsBytes } from '../../src/checkpoint/safetensors_bytes.ts';
import { MemorySource } from '../../src/checkpoint/source.ts';
import { modelTensors } from '../../src/checkpoint/model_tensors.ts';
import { writeTensors } from '../../src/checkpoint/write.ts';
import { randomTensors } from '../../src/checkpoint/random_init.ts';
import { configFromHF } from '../../src/model/config.ts';
import { WEIGHT_DTYPES } from '../../src/model/weight_dtype.ts';
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
  /** The tiny model's files as bytes. */
  const baseFiles = () => {
    const read = (f: string) => new Uint8Array(readFileSync(join(folder, f)));
    return { config: read('config.json'), weights: read('model.safetensors'), tokenizer: read('tokenizer.model') };
  };

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
    const files = adapter.toFiles();
    assert.deepEqual(new Uint8Array(readFileSync(join(out, 'adapter_config.json'))), files.config);
    assert.deepEqual(new Uint8Array(readFileSync(join(out, 'adapter_model.safetensors'))), files.weights);
    assert.equal(JSON.parse(new TextDecoder().decode(files.config)).base_model_name_or_path, folder);
    const tuned = await Llama.fromPretrained(folder, { adapter: out });
    const fromFolder = await Llama.fromPretrained(out);
    const fromBytes = await Llama.fromPretrained(folder, { adapter: files });
    const ids = Int32Array.from(llama.tokenizer.encode(records[0].instruction, { bos: true, eos: false }));
    const logitsOf = (m: Llama) => {
      const l = new Float32Array((ids.length - 1) * m.config.vocabSize);
      m.forward({ inputIds: ids, batchSize: 1, logits: l });
      return l;
    };
    const want = logitsOf(llama);
    assert.notDeepEqual(logitsOf(await Llama.fromPretrained(folder)), want, 'the adapter changes the logits');
    assert.deepEqual(logitsOf(tuned), want);
    assert.deepEqual(logitsOf(fromFolder), want);
    assert.deepEqual(logitsOf(fromBytes), want);
  });

  it('the portable entry fine-tunes a model made from bytes; its adapter as bytes loads onto the base bytes with the same logits and greedy tokens', async () => {
    const base = baseFiles();
    const llama = await portable.Llama.fromPretrained(base, { loraConfig: LORA, seed: 1 });
    const adapter = await portable.finetune({
      model: llama,
      dataset: [
        { instruction: 'Name a colour.', output: 'Blue.' },
        { instruction: 'Name a fruit.', output: 'A pear.' },
      ],
      config: { epochs: 3, batchSize: 2, learningRate: 5e-2, seqLength: 192, schedule: 'constant' },
    });
    assert.equal(adapter.losses.length, 3);
    const files = adapter.toFiles();
    assert.equal(JSON.parse(new TextDecoder().decode(files.config)).base_model_name_or_path, null);
    const tuned = await portable.Llama.fromPretrained(base, { adapter: files });
    const prompt = 'Name a colour.';
    const ids = Int32Array.from(llama.tokenizer.encode(prompt, { bos: true, eos: false }));
    const logitsOf = (m: portable.Llama) => {
      const l = new Float32Array((ids.length - 1) * m.config.vocabSize);
      m.forward({ inputIds: ids, batchSize: 1, logits: l });
      return l;
    };
    const greedy = async (m: portable.Llama) => {
      const out: number[] = [];
      for await (const piece of m.generate(prompt, { maxNewTokens: 8 })) out.push(piece.id);
      return out;
    };
    const want = logitsOf(llama);
    assert.notDeepEqual(logitsOf(await portable.Llama.fromPretrained(base)), want, 'the adapter changes the logits');
    assert.deepEqual(logitsOf(tuned), want);
    assert.deepEqual(await greedy(tuned), await greedy(llama));
    // The same LoRA settings given with the model's own module names (wq, not q_proj) agree with the adapter's.
    assert.deepEqual(logitsOf(await portable.Llama.fromPretrained(base, { adapter: files, loraConfig: LORA })), want);
  });

  it('adapter bytes that do not fit the base are refused in one line naming the file and the tensor', async () => {
    const base = baseFiles();
    const llama = await portable.Llama.fromPretrained(base, { loraConfig: LORA });
    const good = (
      await portable.finetune({ model: llama, dataset: [{ inputIds: [1, 5, 9, 2] }], config: { batchSize: 1 } })
    ).toFiles();
    const stored = SafetensorsFile.from(new MemorySource('adapter', good.weights));
    const tensors = [...stored.tensors].map(([name, info]) => ({ name, info, bytes: stored.readSync(name) }));
    /** The good adapter with its tensors changed by `edit`. */
    const edited = (edit: (t: typeof tensors) => typeof tensors) => ({
      config: good.config,
      weights: safetensorsBytes(edit(tensors)),
    });
    const q0a = `${PEFT_PREFIX}model.layers.0.self_attn.q_proj.lora_A.weight`;
    const refused = (adapter: { config: Uint8Array | object; weights: Uint8Array }, message: string) =>
      assert.rejects(portable.Llama.fromPretrained(base, { adapter }), (err: Error) => {
        assert.equal(err.message, message);
        return true;
      });
    await refused(
      edited((ts) => [
        ...ts,
        ...ts
          .filter((t) => t.name.includes('.layers.1.'))
          .map((t) => ({ ...t, name: t.name.replace('.layers.1.', '.layers.2.') })),
      ]),
      'adapter_model.safetensors: LoRA factors for 3 layers, the base model has 2',
    );
    const dim = llama.config.dim;
    await refused(
      edited((ts) =>
        ts.map((t) =>
          t.name === q0a
            ? { ...t, info: { dtype: 'F32', shape: [4, dim + 1] }, bytes: new Uint8Array(4 * (dim + 1) * 4) }
            : t,
        ),
      ),
      `adapter: tensor model.layers.0.self_attn.q_proj.lora_A.weight has shape [4,${dim + 1}], the model expects [4,${dim}]`,
    );
    await refused(
      edited((ts) => ts.map((t) => (t.name === q0a ? { ...t, name: q0a.replace('q_proj', 'x_proj') } : t))),
      `adapter_model.safetensors: tensor ${q0a.replace('q_proj', 'x_proj')} is not a LoRA factor of a Llama linear layer`,
    );
    const config = JSON.parse(new TextDecoder().decode(good.config));
    await refused(
      { config: { ...config, use_dora: true }, weights: good.weights },
      'adapter_config.json: use_dora (DoRA) is not supported',
    );
    await assert.rejects(
      portable.Llama.fromPretrained(base, {
        adapter: { config: new TextEncoder().encode('{"r": '), weights: good.weights },
      }),
      /^Error: adapter_config.json: not valid JSON \(/,
    );
    await assert.rejects(
      portable.Llama.fromPretrained(base, { adapter: good, loraConfig: { ...LORA, rank: 8 } }),
      /^Error: adapter: the adapter's LoRA settings .* differ from the model's/,
    );
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
    const shards = await alpacaQaShards(made, 'shards', 192, 4, join(folder, 'tokenizer.model'));
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

  it("every dtype stores the base as it names, and llama.cpp's block types give the f32 logits within their rounding", async () => {
    // Rows of 256 values: whole blocks of every type (the shared tiny model's 16 are not).
    const config = configFromHF(
      {
        hidden_size: 256,
        intermediate_size: 512,
        num_attention_heads: 4,
        num_hidden_layers: 2,
        vocab_size: 3000,
        max_position_embeddings: 64,
      },
      'config.json',
    );
    const wide = join(dir, 'wide');
    await writeTensors(wide, 'hf', randomTensors(config, 5, 0.05, 'F32'), { config });
    copyFileSync(join(folder, 'tokenizer.model'), join(wide, 'tokenizer.model'));
    const ids = Int32Array.from({ length: 17 }, (_, i) => 3 + ((i * 131) % 2990));
    const logitsOf = (m: Llama) => {
      const l = new Float32Array(16 * m.config.vocabSize);
      m.forward({ inputIds: ids, batchSize: 1, logits: l });
      return l;
    };
    const exact = logitsOf(await Llama.fromPretrained(wide));
    const scale = Math.max(...exact.map(Math.abs));
    // Bounds from each type's relative RMS weight error on normal values (docs/commands.md): a few times it.
    for (const [dtype, bound] of [
      ['bf16', 0.01],
      ['int8', 0.03],
      ['q8_0', 0.03],
      ['q6_k', 0.1],
      ['q4_k', 0.3],
      ['q5_k', 0.15],
      ['q5_0', 0.15],
      ['q5_1', 0.15],
      ['q4_1', 0.3],
      ['q4_0', 0.3],
    ] as const) {
      const m = await Llama.fromPretrained(wide, { dtype });
      assert.equal(m.model.options.weightType, WEIGHT_DTYPES[dtype], dtype);
      const got = logitsOf(m);
      const err = Math.max(...got.map((v, i) => Math.abs(v - exact[i])));
      assert.ok(err > 0 && err <= bound * scale, `${dtype}: max logit error ${err} of ${scale}`);
    }
  });

  it("dtype 'stored' keeps each matrix as the checkpoint stores it: bf16 as bf16, f32 as f32, from a folder and from bytes", async () => {
    const config = configFromHF(
      { hidden_size: 64, intermediate_size: 128, num_attention_heads: 4, num_hidden_layers: 2, vocab_size: 3000 },
      'config.json',
    );
    const ids = Int32Array.from({ length: 9 }, (_, i) => 5 + ((i * 331) % 2990));
    const logitsOf = (m: Llama) => {
      const l = new Float32Array(8 * m.config.vocabSize);
      m.forward({ inputIds: ids, batchSize: 1, logits: l });
      return l;
    };
    for (const [dtype, name] of [
      ['BF16', 'bf16'],
      ['F32', 'f32'],
    ] as const) {
      const at = join(dir, `stored-${name}`);
      await writeTensors(at, 'hf', randomTensors(config, 9, 0.05, dtype), { config });
      copyFileSync(join(folder, 'tokenizer.model'), join(at, 'tokenizer.model'));
      const asNamed = await Llama.fromPretrained(at, { dtype: name });
      const read = (f: string) => new Uint8Array(readFileSync(join(at, f)));
      const bytes = {
        config: read('config.json'),
        weights: read('model.safetensors'),
        tokenizer: read('tokenizer.model'),
      };
      for (const stored of [
        await Llama.fromPretrained(at, { dtype: 'stored' }),
        await Llama.fromPretrained(bytes, { dtype: 'stored' }),
      ]) {
        const types = Object.values(stored.model.options.matrixTypes ?? {});
        assert.equal(types.length, 2 * 7 + 2, `${name}: every matrix has its type`);
        assert.ok(
          types.every((t) => t === WEIGHT_DTYPES[name]),
          `${name}: kept as ${name}`,
        );
        assert.deepEqual(logitsOf(stored), logitsOf(asNamed), `${name}: the logits of dtype ${name}`);
      }
    }
  });

  it('bad input: one line naming the path, the option or the record', async () => {
    await assert.rejects(Llama.fromPretrained(join(dir, 'nowhere')), /nowhere: no such file or folder/);
    await assert.rejects(
      Llama.fromPretrained(folder, { dtype: 'f16' as 'f32' }),
      /dtype "f16": expected f32, float32, bf16, bfloat16, int8, q8_0, q4_0, q5_0, q4_1, q5_1, q4_k, q5_k, q6_k, stored$/,
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
