/**
 * `llama_preprocess` against the Python reference of MindFormers' algorithm
 * (test/reference/llama_preprocess_ref.py, on python3-sentencepiece): the 5,000 Alpaca records
 * at seq_length 512 and 2048 record by record, conversations built to hit every rule, wikitext;
 * and the errors: malformed input, roles that do not alternate, an existing output, bad
 * tokenizer files, interrupted runs.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as convert } from '../../src/commands/alpaca_converter.ts';
import { main as preprocessCommand } from '../../src/commands/llama_preprocess.ts';
import { ShardDataset } from '../../src/data/shard_reader.ts';
import { IGNORE_INDEX, qaRow } from '../../src/data/qa.ts';
import { loadTokenizer } from '../../src/tokenizer/load.ts';
import { LLAMA3_JSON } from '../tokenizer/hf_oracle.ts';
import { ALPACA_5000, llamaModelFile, runPython, scratchDir } from '../reference/oracles.ts';
import { runCli, startCli } from '../fixtures.ts';

const dir = scratchDir();
let model = '';
let conversations = '';
before(async () => {
  model = await llamaModelFile(dir);
  conversations = join(dir, 'alpaca-conversations.json');
  await convert(['--data_path', ALPACA_5000, '--output_path', conversations]);
});

let outputs = 0;
/** A fresh output path in the scratch folder. */
function outPath(): string {
  return join(dir, `out-${outputs++}`);
}

/** Runs the Python reference; returns its rows file and the masked rows it found. */
function reference(args: string[]): { bin: string; records: number; masked: number[] } {
  const bin = join(dir, `ref-${outputs++}.bin`);
  const summary = JSON.parse(runPython('llama_preprocess_ref.py', [...args, bin]));
  return { bin, ...summary };
}

/** Asserts that the dataset in `out` holds exactly the reference's rows. */
function assertSameRows(
  out: string,
  ref: { bin: string; records: number },
  columns: string[],
  seqLength: number,
): void {
  const ds = ShardDataset.open(out);
  try {
    ds.verify();
    assert.equal(ds.length, ref.records, 'record count');
    assert.equal(ds.index.seq_length, seqLength);
    const L = seqLength + 1;
    const rows = new Int32Array(new Uint8Array(readFileSync(ref.bin)).buffer);
    assert.equal(rows.length, ref.records * columns.length * L, 'reference size');
    for (let i = 0; i < ds.length; i++) {
      const record = ds.record(i);
      columns.forEach((name, c) => {
        const want = rows.subarray((i * columns.length + c) * L, (i * columns.length + c + 1) * L);
        const got = record[name];
        const at = got.findIndex((x, k) => x !== want[k]);
        assert.equal(at, -1, `record ${i} ${name}[${at}]: ${got[at]}, reference ${want[at]}`);
      });
    }
  } finally {
    ds.close();
  }
}

/** Writes a conversation file. */
function conversationFile(name: string, records: unknown[]): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify(records));
  return path;
}

const h = (value: string) => ({ from: 'human', value });
const g = (value: string) => ({ from: 'gpt', value });

/** Conversations that hit every rule of SPEC.md §3. */
const EDGE_CONVERSATIONS = [
  [h('What is 2+2?'), g('4')],
  [
    h('Hi'),
    g('Hello! How can I help?'),
    h('Tell me a joke.'),
    g('Why did the llama cross the road?'),
    h('Why?'),
    g('To get to the other side.'),
  ],
  [h('Empty answer follows'), g('')],
  [h('Contains eos'), g('before</s>after')],
  [h('Ends with eos'), g('done</s>')],
  [h('I say ASSISTANT: hello'), g('odd')],
  [h('Answer says it'), g('x ASSISTANT: y')],
  [h('Ends on a user turn'), g('ok'), h('and then?')],
  [g('A first gpt turn is dropped'), h('Question'), g('Answer')],
  [h('Unknown'), g('an <unk> inside')],
  [h('Literal <s> in the question'), g('and <s> here')],
  [h(''), g('An empty question')],
  [h('Only a human turn')],
  [h('Whitespace'), g('  \n\t  spaced   out  ')],
  [h('Unicode'), g('镇 🦙 e\u0301 ﬁ Ελληνικά')],
  [h('Long'), g('word '.repeat(300))],
  [h('Long question '.repeat(100)), g('short')],
];

describe('llama_preprocess', () => {
  it('gives the reference rows for the 5,000 Alpaca records at seq_length 512 (bundle, 3 shards, worker threads)', async () => {
    const out = outPath();
    const result = await runCli([
      'llama_preprocess',
      '--dataset_type',
      'qa',
      '--input_glob',
      conversations,
      '--model_file',
      model,
      '--seq_length',
      '512',
      '--output_file',
      out,
      '--file_partition',
      '3',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `Transformed 5000 records.\nTransform finished, output files refer: ${out}\n`);
    const ref = reference(['qa', model, conversations, '512']);
    assert.match(
      result.stderr,
      new RegExp(
        `^Warning: ${ref.masked.length} of 5000 rows have every label masked \\(records ${ref.masked.map((i) => i + 1).join(', ')}\\)`,
      ),
    );
    assertSameRows(out, ref, ['input_ids', 'labels'], 512);
    const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
    assert.equal(index.masked_rows, ref.masked.length);
    assert.deepEqual(
      index.shards.map((s: { records: number }) => s.records),
      [1667, 1667, 1666],
    );
  });

  it('gives the reference rows for the 5,000 Alpaca records at seq_length 2048 (source, bundled tokenizer)', async () => {
    const out = outPath();
    const result = await runCli(
      [
        'llama_preprocess',
        '--dataset_type',
        'qa',
        '--input_glob',
        conversations,
        '--seq_length',
        '2048',
        '--output_file',
        out,
      ],
      { source: true },
    );
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^Transformed 5000 records\.\n/);
    assertSameRows(out, reference(['qa', model, conversations, '2048']), ['input_ids', 'labels'], 2048);
  });

  it('gives the reference rows for conversations that hit every rule, at seq_length 16, 64 and 512', async () => {
    const records = EDGE_CONVERSATIONS.map((conversations, i) => ({ id: `edge-${i}`, conversations }));
    const path = conversationFile('edge.json', records);
    for (const seq of [16, 64, 512]) {
      const out = outPath();
      assert.equal(
        await preprocessCommand([
          '--dataset_type',
          'qa',
          '--input_glob',
          path,
          '--model_file',
          model,
          '--seq_length',
          String(seq),
          '--output_file',
          out,
          '--workers',
          '0',
        ]),
        0,
      );
      const ref = reference(['qa', model, path, String(seq)]);
      assert.ok(ref.masked.length >= 5, 'the edge cases include fully masked rows');
      assertSameRows(out, ref, ['input_ids', 'labels'], seq);
      const ds = ShardDataset.open(out);
      assert.equal(ds.index.masked_rows, ref.masked.length);
      ds.close();
    }
  });

  it('gives the reference rows for wikitext (clean_wikitext, headings, CRLF, --repeat; inline and on a worker thread)', async () => {
    const text = [
      ' = Valkyria Chronicles III = ',
      '',
      ' Senjō no Valkyria 3 : Unrecorded Chronicles ( Japanese : 戦場のヴァルキュリア3 ) is a 2011 game . ',
      ' It sold 1 @,@ 000 @,@ 000 copies , the " best " start @-@ up of 3 @.@ 5 years ; wow ! ',
      '',
      ' = = Plot = = ',
      '',
      " The players ' [ team ] fought { hard } in the N ' s 's war at 20 ° C ? Yes . ",
      ' ',
      '',
      'A\r\nB\rC',
      '',
      '  = not a heading? it starts with = after stripping',
      '',
      ` ${'Long paragraph of words . '.repeat(40)}`,
    ].join('\n');
    const path = join(dir, 'wiki.train.tokens');
    writeFileSync(path, text);
    for (const [seq, repeat, workers] of [
      [32, 1, 0],
      [7, 3, 2],
    ]) {
      const out = outPath();
      assert.equal(
        await preprocessCommand([
          '--dataset_type',
          'wiki',
          '--input_glob',
          path,
          '--model_file',
          model,
          '--seq_length',
          String(seq),
          '--repeat',
          String(repeat),
          '--output_file',
          out,
          '--workers',
          String(workers),
        ]),
        0,
      );
      const ref = reference(['wiki', model, path, String(seq), String(repeat)]);
      assert.ok(ref.records > 3);
      assertSameRows(out, ref, ['input_ids'], seq);
    }
  });

  it('cleans wikitext exactly as the Python regexes do, Unicode whitespace included', async () => {
    const { cleanWikitext } = await import('../../src/data/wiki.ts');
    const samples = [
      '( a )',
      '(\u3000a\u00a0)',
      '(\x1ca\x85)',
      '( \ufeff )',
      '[ x ] { y } " z " \' w \'',
      "s ' /' 5/",
      ' @-@ @,@ @.@ ',
      '= = = = x',
      ' N  N ',
      'a ° b',
      '((( a ))',
      '" a " b " c "',
    ];
    const expected = runPython(
      'llama_preprocess_ref.py',
      ['clean', model],
      samples.map((s) => JSON.stringify(s)).join('\n') + '\n',
    )
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(samples.map(cleanWikitext), expected);
  });

  it('reads every file an --input_glob matches, in sorted order', async () => {
    const a = conversationFile('glob-b.json', [{ conversations: EDGE_CONVERSATIONS[0] }]);
    conversationFile('glob-a.json', [
      { conversations: EDGE_CONVERSATIONS[1] },
      { conversations: EDGE_CONVERSATIONS[3] },
    ]);
    const out = outPath();
    assert.equal(
      await preprocessCommand([
        '--dataset_type',
        'qa',
        '--input_glob',
        join(dir, 'glob-?.json'),
        '--model_file',
        model,
        '--seq_length',
        '64',
        '--output_file',
        out,
        '--workers',
        '0',
      ]),
      0,
    );
    const ds = ShardDataset.open(out);
    assert.equal(ds.length, 3);
    assert.deepEqual(ds.index.sources, [join(dir, 'glob-a.json'), a]);
    ds.close();
    await assert.rejects(
      preprocessCommand(['--dataset_type', 'qa', '--input_glob', join(dir, 'none-*.json'), '--output_file', outPath()]),
      /matches no file/,
    );
  });

  it('gives one clear line for bad input, and leaves nothing at the output', async () => {
    const cases: [string[], RegExp][] = [];
    const malformed = join(dir, 'malformed.json');
    writeFileSync(malformed, '[{"conversations": [{"from": "human", "value": "a"},\n  {"from": "gpt", "value": "b"]}]');
    cases.push([
      ['--input_glob', malformed],
      /malformed\.json: invalid JSON at line 2, column 31: unexpected "]" where "," or "}" was expected/,
    ]);
    const twice = conversationFile('twice.json', [
      { id: 'a', conversations: [h('q'), g('a')] },
      { id: 'b', conversations: [h('q'), h('again')] },
    ]);
    cases.push([
      ['--input_glob', twice],
      /twice\.json: record 2 \(id "b"\): roles do not alternate: turn 2 is from "human" where "gpt" was expected/,
    ]);
    const stranger = conversationFile('stranger.json', [{ conversations: [{ from: 'system', value: 'x' }] }]);
    cases.push([['--input_glob', stranger], /record 1: turn 1 has "from" "system"; expected "human" or "gpt"/]);
    const truncated = join(dir, 'truncated.model');
    writeFileSync(truncated, readFileSync(model).subarray(0, 100_000));
    cases.push([['--input_glob', twice, '--model_file', truncated], /truncated\.model: truncated SentencePiece model/]);
    const notModel = join(dir, 'not.model');
    writeFileSync(notModel, '{"not": "a model"}');
    cases.push([['--input_glob', twice, '--model_file', notModel], /not\.model: not a SentencePiece model/]);
    cases.push([
      ['--input_glob', twice, '--dataset_type', 'wikipedia'],
      /--dataset_type wikipedia: expected qa, chat or wiki/,
    ]);
    for (const [args, message] of cases) {
      const out = outPath();
      const argv = ['--dataset_type', 'qa', '--seq_length', '32', '--output_file', out, '--workers', '0', ...args];
      const result = await runCli(['llama_preprocess', ...argv]);
      assert.equal(result.code, 1, args.join(' '));
      assert.equal(result.stderr.split('\n').length, 2, `one line: ${result.stderr}`);
      assert.match(result.stderr, new RegExp(`^llama_preprocess: .*${message.source}`));
      assert.ok(!existsSync(out), `${out} exists after: ${result.stderr}`);
    }
    const existing = outPath();
    writeFileSync(existing, 'keep');
    await assert.rejects(
      preprocessCommand(['--dataset_type', 'qa', '--input_glob', twice, '--output_file', existing]),
      /already exists \(a file\); choose another --output_file/,
    );
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.partial-')),
      [],
    );
  });

  it('reports a write error with worker threads running (EFBIG under ulimit -f, as ENOSPC on a full disk) in one line, leaving nothing', async () => {
    const out = outPath(),
      name = out.split('/').pop()!;
    const argv = [
      'llama_preprocess',
      '--dataset_type',
      'qa',
      '--input_glob',
      conversations,
      '--model_file',
      model,
      '--seq_length',
      '256',
      '--output_file',
      out,
      '--workers',
      '2',
    ];
    // The shell limits files to 256 blocks; the shard passes that while batches are still being tokenized.
    const r = await runCli(argv, { wrap: ['sh', '-c', 'ulimit -f 256 && exec "$@"', 'sh'] });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`^llama_preprocess: ${out}/shard-00000\\.msgpack: cannot write \\(EFBIG: file too large, write\\)\n$`),
    );
    assert.ok(!existsSync(out));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith(`.${name}.partial-`)),
      [],
    );
  });

  it('refuses a seq_length no model can take before reading its input, and keeps memory flat with long rows', async () => {
    const out = outPath();
    const t0 = performance.now();
    const huge = await runCli([
      'llama_preprocess',
      '--dataset_type',
      'qa',
      '--input_glob',
      conversations,
      '--seq_length',
      '1000000000',
      '--output_file',
      out,
    ]);
    assert.equal(huge.code, 1);
    assert.match(
      huge.stderr,
      /^llama_preprocess: --seq_length 1000000000 is more than any model here can take \(at most 1048576: .*\)\n$/,
    );
    assert.ok(performance.now() - t0 < 10_000 && !existsSync(out));
    // 130 records at 2^18 positions: rows of 2 MiB. Batches of 64 such rows held 128 MiB each,
    // several in flight; batches are now sized by positions, so memory stays near the baseline.
    const some = conversationFile(
      'some.json',
      Array.from({ length: 130 }, (_, i) => ({ id: String(i), conversations: [h(`question ${i}`), g(`answer ${i}`)] })),
    );
    const long = outPath();
    const script = `const { main } = await import(${JSON.stringify(new URL('../../src/commands/llama_preprocess.ts', import.meta.url).href)});
      await main(['--dataset_type', 'qa', '--input_glob', ${JSON.stringify(some)}, '--model_file', ${JSON.stringify(model)}, '--seq_length', '262144', '--output_file', ${JSON.stringify(long)}, '--workers', '0']);
      console.log('maxRSS', process.resourceUsage().maxRSS);`;
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      encoding: 'utf8',
      cwd: new URL('../../', import.meta.url).pathname,
    });
    assert.equal(r.status, 0, r.stderr);
    const maxRssMiB = Number(/maxRSS (\d+)/.exec(r.stdout)![1]) / 1024;
    assert.ok(maxRssMiB < 350, `peak memory ${maxRssMiB.toFixed(0)} MiB`);
    const ds = ShardDataset.open(long);
    assert.equal(ds.length, 130);
    assert.equal(ds.record(129).input_ids.length, 262145);
    ds.close();
  });

  it('leaves no shard that looks complete when interrupted: SIGTERM removes the partial output, SIGKILL leaves only a hidden folder without an index', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as NodeJS.Signals[]) {
      const out = outPath();
      const name = out.split('/').pop()!;
      const run = startCli([
        'llama_preprocess',
        '--dataset_type',
        'qa',
        '--input_glob',
        conversations,
        '--model_file',
        model,
        '--seq_length',
        '2048',
        '--output_file',
        out,
      ]);
      const poll = setInterval(() => {
        const partial = readdirSync(dir).find((f) => f.startsWith(`.${name}.partial-`));
        if (
          partial &&
          existsSync(join(dir, partial, 'shard-00000.msgpack')) &&
          statSync(join(dir, partial, 'shard-00000.msgpack')).size > 0
        ) {
          clearInterval(poll);
          run.child.kill(signal);
        }
      }, 5);
      const result = await run.done;
      assert.equal(result.code === 0, false, `${signal}: the run finished before it could be interrupted`);
      assert.ok(!existsSync(out), `${signal}: ${out} exists`);
      const left = readdirSync(dir).filter((f) => f.startsWith(`.${name}.partial-`));
      if (signal === 'SIGTERM') assert.deepEqual(left, []);
      for (const partial of left) {
        assert.ok(!existsSync(join(dir, partial, 'index.json')));
        assert.throws(
          () => ShardDataset.open(join(dir, partial)),
          /no index\.json; not a dataset written by llama_preprocess, or its writing did not finish/,
        );
      }
    }
  });
});

describe('qa rows of a tokenizer.json vocabulary', () => {
  it('id 0 is a real token there (Llama 3\'s "!"), so an answer holding it keeps its labels', async () => {
    const { tokenizer } = await loadTokenizer(LLAMA3_JSON);
    assert.deepEqual(tokenizer.encode('!', { bos: false, eos: false }), [0]);
    const text = 'A chat. USER: Say hi ASSISTANT: Hi! Hello!</s>';
    const n = 48,
      ids = new Int32Array(n),
      labels = new Int32Array(n);
    assert.equal(qaRow(tokenizer, text, ids, labels), false, 'the row keeps its answer');
    const counted = [...labels].filter((l) => l !== IGNORE_INDEX);
    assert.ok(counted.includes(0), `the "!" of the answer counts: ${counted}`);
  });
});
