/**
 * Chat through a model's own chat template (the Llama 3 tokenizer.json and tokenizer_config.json):
 * the served answer, greedy, equals what `run_mindformer --run_mode predict --chat True` prints
 * after the rendered prompt for the same message on the same checkpoint (the template, its
 * end-of-turn stop and the decoding all taken the predict way), streamed or not.
 */
import assert from 'node:assert/strict';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import OpenAI from 'openai';
import { chatPromptIds } from '../../src/tokenizer/chat_template.ts';
import { loadChatTemplate, loadTokenizer } from '../../src/tokenizer/load.ts';
import { runCli } from '../fixtures.ts';
import { scratchDir } from '../reference/oracles.ts';
import { LLAMA3_JSON } from '../tokenizer/hf_oracle.ts';
import { startServer, type ServerProcess } from './fixtures.ts';

const SHAPE = [
  '--model.model_config.vocab_size',
  '128256',
  '--model.model_config.hidden_size',
  '16',
  '--model.model_config.num_layers',
  '1',
  '--model.model_config.num_heads',
  '2',
  '--model.model_config.initializer_range',
  '0.5',
];
const MAX_LENGTH = 40;

describe("serve: chat through the model's template", () => {
  const dir = scratchDir(),
    base = join(dir, 'base'),
    tokenizer = dirname(LLAMA3_JSON);
  let server: ServerProcess;
  before(async () => {
    const init = await runCli(
      ['init_checkpoint', '--config', 'configs/llama2/lora_tiny.yaml', ...SHAPE, '--output_dir', base, '--seed', '11'],
      { source: true },
    );
    assert.equal(init.code, 0, init.stderr);
    server = await startServer(['--load_checkpoint', base, '--model_name', 'base', '--tokenizer', tokenizer]);
  });
  after(async () => {
    await server.stop();
  });

  for (const prompt of ['Hello', 'Name two colours.']) {
    it(`${JSON.stringify(prompt)}: the answer equals predict --chat True's`, async () => {
      const run = await runCli(
        [
          'run_mindformer',
          '--config',
          'configs/llama2/lora_tiny.yaml',
          ...SHAPE,
          '--run_mode',
          'predict',
          '--predict_data',
          prompt,
          '--chat',
          'True',
          '--load_checkpoint',
          base,
          '--processor.tokenizer.vocab_file',
          tokenizer,
          '--model.model_config.max_decode_length',
          String(MAX_LENGTH),
          '--output_dir',
          join(dir, `p-${prompt.length}`),
        ],
        { source: true },
      );
      assert.equal(run.code, 0, run.stderr);
      const loaded = await loadTokenizer(tokenizer),
        tok = loaded.tokenizer;
      const ids = chatPromptIds(await loadChatTemplate(loaded), tok, prompt);
      const client = new OpenAI({ baseURL: `${server.url}/v1`, apiKey: 'none', maxRetries: 0 });
      const body = {
        model: 'base',
        messages: [{ role: 'user' as const, content: prompt }],
        max_tokens: MAX_LENGTH - ids.length,
        temperature: 0,
      };
      const answer = await client.chat.completions.create(body);
      assert.equal(answer.usage!.prompt_tokens, ids.length);
      assert.ok(answer.usage!.completion_tokens > 0);
      assert.equal(run.stdout, `${tok.decode(ids, { skipSpecialTokens: true })}${answer.choices[0].message.content}\n`);
      let streamed = '';
      for await (const c of await client.chat.completions.create({ ...body, stream: true }))
        streamed += c.choices[0]?.delta.content ?? '';
      assert.equal(streamed, answer.choices[0].message.content);
    });
  }
});
