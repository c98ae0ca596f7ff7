/**
 * `llama_preprocess --dataset_type chat` with the Llama 3 and Qwen3 tokenizer folders, checked
 * against an independent computation: each row's input_ids are Python's jinja2 rendering
 * (test/reference/chat_template_oracle.py) tokenized by Hugging Face's Rust tokenizer without
 * special tokens, and the counted labels, cut into runs, decode (again by the Rust tokenizer) to
 * each assistant message's text as the template writes it followed by its end-of-turn token, in
 * order, and nothing else.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { main as preprocessCommand } from '../../src/commands/llama_preprocess.ts';
import { IGNORE_INDEX } from '../../src/data/qa.ts';
import { ShardDataset } from '../../src/data/shard_reader.ts';
import { oracleLines, scratchDir } from '../reference/oracles.ts';
import { runCli } from '../fixtures.ts';
import { LLAMA3_JSON, QWEN3_JSON, rustDecode, rustEncode, rustTokenizer } from '../tokenizer/hf_oracle.ts';

type Turn = { from: string; value: string };

/** Converter-shaped records: system turns, several rounds, Unicode, and end-of-turn text inside an answer. */
const RECORDS: { id: string; conversations: Turn[] }[] = [
  {
    id: 'a',
    conversations: [
      { from: 'human', value: 'Give three tips for staying healthy.' },
      { from: 'gpt', value: '1. Eat well.\n2. Exercise.\n3. Sleep.' },
    ],
  },
  {
    id: 'b',
    conversations: [
      { from: 'system', value: 'You are terse.' },
      { from: 'human', value: 'Capital of France?' },
      { from: 'gpt', value: 'Paris.' },
      { from: 'human', value: 'And of Japan?' },
      { from: 'gpt', value: 'Tokyo — 東京.' },
    ],
  },
  {
    id: 'c',
    conversations: [
      { from: 'human', value: 'Say the tokens.' },
      { from: 'gpt', value: 'Here: <|eot_id|> and <|im_end|> are text too.' },
      { from: 'human', value: 'Thanks 🙂' },
      { from: 'gpt', value: 'You are welcome!' },
    ],
  },
  { id: 'd', conversations: [{ from: 'human', value: 'Only a question, no answer.' }] },
  {
    id: 'e',
    conversations: [
      { from: 'human', value: 'Pad me' },
      { from: 'gpt', value: '  spaces around  ' },
    ],
  },
];

const messagesOf = (r: { conversations: Turn[] }) =>
  r.conversations.map((t) => ({
    role: ({ human: 'user', gpt: 'assistant', system: 'system' } as Record<string, string>)[t.from],
    content: t.value,
  }));

/**
 * Each assistant message as the template writes it, with its end-of-turn token, and what the
 * template puts just before it (the generation prompt): Llama 3 trims the content; Qwen3 puts an
 * empty thinking block before an answer that comes after the last user message.
 */
const TEMPLATES = {
  llama3: {
    json: LLAMA3_JSON,
    header: '<|start_header_id|>assistant<|end_header_id|>\n\n',
    answers: (m: { role: string; content: string }[]) =>
      m.filter((x) => x.role === 'assistant').map((x) => x.content.trim() + '<|eot_id|>'),
  },
  qwen3: {
    json: QWEN3_JSON,
    header: '<|im_start|>assistant\n',
    answers: (m: { role: string; content: string }[]) => {
      const lastUser = m.map((x) => x.role).lastIndexOf('user');
      return m.flatMap((x, i) =>
        x.role !== 'assistant' ? [] : [(i > lastUser ? '<think>\n\n</think>\n\n' : '') + x.content + '<|im_end|>'],
      );
    },
  },
};

const dir = scratchDir();
const input = join(dir, 'conversations.json');
writeFileSync(input, JSON.stringify(RECORDS));
const SEQ = 128;

/** Runs of consecutive positions whose label counts. */
function countedRuns(labels: ArrayLike<number>): number[][] {
  const runs: number[][] = [];
  let run: number[] | null = null;
  for (let p = 0; p < labels.length; p++) {
    if (labels[p] === IGNORE_INDEX) {
      run = null;
      continue;
    }
    if (!run) runs.push((run = []));
    run.push(p);
  }
  return runs;
}

for (const [name, t] of Object.entries(TEMPLATES)) {
  test(`chat rows with the ${name} template count exactly the assistant's text and its end-of-turn token`, async () => {
    const folder = dirname(t.json);
    const out = join(dir, `${name}-chat`);
    const log = console.log;
    console.log = () => {};
    try {
      await preprocessCommand([
        '--dataset_type',
        'chat',
        '--input_glob',
        input,
        '--model_file',
        folder,
        '--seq_length',
        String(SEQ),
        '--output_file',
        out,
        '--workers',
        name === 'llama3' ? '1' : '0',
      ]);
    } finally {
      console.log = log;
    }
    const config = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
    const variables = Object.fromEntries(
      ['bos_token', 'eos_token', 'pad_token', 'unk_token']
        .filter((k) => typeof config[k] === 'string')
        .map((k) => [k, config[k]]),
    );
    variables.additional_special_tokens = config.additional_special_tokens ?? [];
    if (variables.additional_special_tokens.length === 0) delete variables.additional_special_tokens;
    const texts = oracleLines<string>(
      'chat_template_oracle.py',
      [],
      [
        { template: config.chat_template, variables },
        ...RECORDS.map((r) => ({ messages: messagesOf(r), add_generation_prompt: false })),
      ],
    );
    const rust = rustTokenizer(readFileSync(t.json, 'utf8'));
    const expectedIds = await rustEncode(rust, texts, false);
    const data = ShardDataset.open(out);
    try {
      assert.equal(data.length, RECORDS.length);
      for (const [r, record] of RECORDS.entries()) {
        const { input_ids: ids, labels } = data.record(r);
        const want = expectedIds[r].slice(0, SEQ + 1);
        assert.deepEqual(
          [...ids],
          [...want, ...new Array(SEQ + 1 - want.length).fill(0)],
          `record ${record.id}: input_ids`,
        );
        const runs = countedRuns(labels);
        for (const run of runs)
          for (const p of run) assert.equal(labels[p], ids[p], `record ${record.id}: a counted label is its input id`);
        const answers = t.answers(messagesOf(record));
        for (const answer of answers)
          assert.ok(
            texts[r].includes(t.header + answer),
            `record ${record.id}: jinja2 wrote ${JSON.stringify(answer)}`,
          );
        const decoded = await rustDecode(
          rust,
          runs.map((run) => run.map((p) => ids[p])),
          false,
        );
        assert.deepEqual(decoded, answers, `record ${record.id}: the counted tokens`);
      }
    } finally {
      data.close();
    }
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
    assert.equal(index.dataset_type, 'chat');
    assert.equal(index.masked_rows, 1, 'the record without an answer');
  });
}

test('a tokenizer without a chat template is one clear error, and nothing is written', async () => {
  const noTemplate = join(dir, 'no-template');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(noTemplate);
  symlinkSync(LLAMA3_JSON, join(noTemplate, 'tokenizer.json'));
  writeFileSync(
    join(noTemplate, 'tokenizer_config.json'),
    JSON.stringify({ bos_token: '<|begin_of_text|>', eos_token: '<|end_of_text|>' }),
  );
  const out = join(dir, 'never');
  await assert.rejects(
    preprocessCommand([
      '--dataset_type',
      'chat',
      '--input_glob',
      input,
      '--model_file',
      noTemplate,
      '--output_file',
      out,
      '--workers',
      '0',
    ]),
    /no-template\/tokenizer_config\.json: the tokenizer has no chat template \(no "chat_template" key\)/,
  );
  await assert.rejects(
    preprocessCommand(['--dataset_type', 'chat', '--input_glob', input, '--output_file', out, '--workers', '0']),
    /bundled in @sctg\/sentencepiece-js: the tokenizer has no chat template/,
  );
  assert.ok(!existsSync(out));
});

test('a record the template refuses names the file and the record', async () => {
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify([RECORDS[0], { id: 7, conversations: [{ from: 'robot', value: 'x' }] }]));
  const out = join(dir, 'bad-out');
  await assert.rejects(
    preprocessCommand([
      '--dataset_type',
      'chat',
      '--input_glob',
      bad,
      '--model_file',
      dirname(QWEN3_JSON),
      '--output_file',
      out,
      '--workers',
      '0',
    ]),
    /bad\.json: record 2 \(id 7\): turn 1 has "from" "robot"/,
  );
  assert.ok(!existsSync(out));
});

test('a conversation longer than seq_length + 1 is cut: its row is the start of the uncut row, labels included', async () => {
  const rows = async (seq: number) => {
    const out = join(dir, `qwen3-cut-${seq}`);
    const log = console.log;
    console.log = () => {};
    try {
      await preprocessCommand([
        '--dataset_type',
        'chat',
        '--input_glob',
        input,
        '--model_file',
        dirname(QWEN3_JSON),
        '--seq_length',
        String(seq),
        '--output_file',
        out,
        '--workers',
        '0',
      ]);
    } finally {
      console.log = log;
    }
    const data = ShardDataset.open(out);
    try {
      return RECORDS.map((_, r) => data.record(r)).map((rec) => ({ ids: [...rec.input_ids], labels: [...rec.labels] }));
    } finally {
      data.close();
    }
  };
  const [short, long] = [await rows(24), await rows(SEQ)];
  short.forEach((row, r) => {
    assert.deepEqual(row.ids, long[r].ids.slice(0, 25), `record ${RECORDS[r].id}: input_ids`);
    assert.deepEqual(row.labels, long[r].labels.slice(0, 25), `record ${RECORDS[r].id}: labels`);
  });
  assert.ok(
    long.some((row) => row.ids[25] !== 0),
    'some conversation is longer than the cut',
  );
  assert.ok(
    short.some((row) => row.labels.some((x) => x !== IGNORE_INDEX)),
    'some answer starts before the cut',
  );
});

test('run_mindformer evaluates chat rows unchanged: the tokens it counts are the assistant tokens of the rows', async () => {
  const out = join(dir, 'qwen3-eval');
  const log = console.log;
  console.log = () => {};
  try {
    await preprocessCommand([
      '--dataset_type',
      'chat',
      '--input_glob',
      input,
      '--model_file',
      dirname(QWEN3_JSON),
      '--seq_length',
      '64',
      '--output_file',
      out,
      '--workers',
      '0',
    ]);
  } finally {
    console.log = log;
  }
  const data = ShardDataset.open(out);
  let expected = 0; // positions whose input is not the pad id 0 and whose next label counts
  for (let r = 0; r < data.length; r++) {
    const { input_ids: ids, labels } = data.record(r);
    for (let s = 0; s < 64; s++) if (ids[s] !== 0 && labels[s + 1] !== IGNORE_INDEX) expected++;
  }
  data.close();
  const ev = await runCli([
    'run_mindformer',
    '--config',
    'configs/llama2/lora_tiny.yaml',
    '--run_mode',
    'eval',
    '--eval_dataset_dir',
    out,
    '--model.model_config.vocab_size',
    '151669',
    '--model.model_config.hidden_size',
    '16',
    '--model.model_config.num_layers',
    '1',
    '--model.model_config.num_heads',
    '2',
    '--model.model_config.seq_length',
    '64',
    '--output_dir',
    join(dir, 'eval-out'),
  ]);
  assert.equal(ev.code, 0, ev.stderr);
  const m = /Eval over 5 records \((\d+) tokens\): loss ([\d.]+)/.exec(ev.stdout);
  assert.ok(m, ev.stdout);
  assert.ok(expected > 20);
  assert.equal(Number(m[1]), expected);
  assert.ok(Math.abs(Number(m[2]) - Math.log(151669)) < 0.5, `a random model's loss is about ln(vocabulary): ${m[2]}`);
});
