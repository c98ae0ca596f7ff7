/**
 * `run_mindformer --run_mode predict --chat True`: a prompt becomes the ids of Python's jinja2
 * rendering of one user message with the generation prompt, tokenized by Hugging Face's Rust
 * tokenizer without special tokens (one BOS for Llama 3, none for Qwen3); the end-of-turn token
 * is the template's; generation stops at it; and a whole predict run on a tiny random model with
 * the Llama 3 vocabulary prints the rendered prompt.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { generate } from '../../src/generate/generate.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { chatPromptIds, endOfTurnId } from '../../src/tokenizer/chat_template.ts';
import { loadChatTemplate, loadTokenizer } from '../../src/tokenizer/load.ts';
import { runCli } from '../fixtures.ts';
import { tinyConfig } from '../model/fixtures.ts';
import { llamaModelFile, oracleLines, scratchDir } from '../reference/oracles.ts';
import { LLAMA3_JSON, QWEN3_JSON, rustEncode, rustTokenizer } from '../tokenizer/hf_oracle.ts';

const PROMPTS = [
  'Hello',
  'Give three tips for staying healthy.',
  '  spaced  ',
  'Ünïcödé 東京 🙂',
  '<|eot_id|> and <|im_end|> as text',
  'two\nlines',
];

for (const [name, json, eot] of [
  ['Llama 3', LLAMA3_JSON, '<|eot_id|>'],
  ['Qwen3', QWEN3_JSON, '<|im_end|>'],
] as const) {
  test(`${name}: chat prompt ids equal jinja2's rendering tokenized by HF without special tokens; the end-of-turn token is ${eot}`, async () => {
    const loaded = await loadTokenizer(dirname(json));
    const template = await loadChatTemplate(loaded);
    const config = JSON.parse(readFileSync(join(dirname(json), 'tokenizer_config.json'), 'utf8'));
    const variables = Object.fromEntries(Object.entries(template.variables));
    assert.equal(variables.eos_token, config.eos_token);
    const texts = oracleLines<string>(
      'chat_template_oracle.py',
      [],
      [
        { template: config.chat_template, variables },
        ...PROMPTS.map((p) => ({ messages: [{ role: 'user', content: p }], add_generation_prompt: true })),
      ],
    );
    const rust = rustTokenizer(readFileSync(json, 'utf8'));
    const expected = await rustEncode(rust, texts, false);
    PROMPTS.forEach((p, i) =>
      assert.deepEqual(chatPromptIds(template, loaded.tokenizer, p), expected[i], JSON.stringify(p)),
    );
    const bos = rust.tokenToId('<|begin_of_text|>');
    assert.equal(
      expected[0].filter((id) => id === bos).length,
      name === 'Llama 3' ? 1 : 0,
      'one BOS from the template, none added',
    );
    assert.equal(endOfTurnId(template, loaded.tokenizer), rust.tokenToId(eot));
  });
}

test('generation stops after a stop id as it does after the eos', async () => {
  const core = await loadCore();
  const mark = core.arena.mark();
  const model = new LlamaModel(core, tinyConfig({}), { mode: 'train', weightType: WeightType.F32 });
  model.weights.initRandom(5, 0.3);
  const free = generate(model, [1, 3], { maxNewTokens: 6, eosId: -1 });
  const stopped = generate(model, [1, 3], { maxNewTokens: 6, eosId: -1, stopIds: [free[2]] });
  assert.deepEqual(stopped, free.slice(0, free.indexOf(free[2]) + 1));
  core.arena.release(mark);
});

test('predict --chat True on a tiny random model with the Llama 3 vocabulary prints the rendered prompt; a tokenizer without a template is one error', async () => {
  const dir = scratchDir();
  const tiny = [
    'run_mindformer',
    '--config',
    'configs/llama2/lora_tiny.yaml',
    '--run_mode',
    'predict',
    '--predict_data',
    'Hello',
    '--output_dir',
    dir,
    '--model.model_config.vocab_size',
    '128256',
    '--model.model_config.hidden_size',
    '16',
    '--model.model_config.num_layers',
    '1',
    '--model.model_config.num_heads',
    '2',
    '--model.model_config.max_decode_length',
    '16',
  ];
  const args = [...tiny, '--processor.tokenizer.vocab_file', dirname(LLAMA3_JSON)];
  const run = await runCli([...args, '--chat', 'True'], { source: true });
  assert.equal(run.code, 0, run.stderr);
  assert.ok(run.stdout.startsWith('user\n\nHelloassistant\n\n'), JSON.stringify(run.stdout));
  const plain = await runCli([...args, '--chat', 'False'], { source: true });
  assert.equal(plain.code, 0, plain.stderr);
  assert.ok(
    plain.stdout.startsWith('Hello') && !plain.stdout.startsWith('Helloassistant'),
    JSON.stringify(plain.stdout),
  );
  const none = await runCli([...tiny, '--chat', 'True'], { source: true });
  assert.equal(none.code, 1);
  assert.match(
    none.stderr.trim(),
    /^run_mindformer: the Llama 2 tokenizer\.model bundled in @sctg\/sentencepiece-js: the tokenizer has no chat template/,
  );
});

test('a tokenizer.model with a Llama 2 style template beside it: one BOS, written by the template, and </s> ends a turn', async () => {
  const dir = scratchDir();
  const model = await llamaModelFile(dir);
  writeFileSync(
    join(dir, 'tokenizer_config.json'),
    JSON.stringify({
      chat_template:
        "{% for m in messages %}{% if m.role == 'user' %}{{ bos_token + '[INST] ' + m.content + ' [/INST]' }}{% else %}{{ ' ' + m.content + ' ' + eos_token }}{% endif %}{% endfor %}",
      bos_token: '<s>',
      eos_token: { content: '</s>', lstrip: false },
    }),
  );
  const loaded = await loadTokenizer(model);
  const template = await loadChatTemplate(loaded);
  const ids = chatPromptIds(template, loaded.tokenizer, 'Hi');
  assert.equal(ids[0], 1);
  assert.equal(ids.filter((id) => id === 1).length, 1);
  assert.equal(loaded.tokenizer.decode(ids), '[INST] Hi [/INST]');
  assert.equal(endOfTurnId(template, loaded.tokenizer), 2);
});
