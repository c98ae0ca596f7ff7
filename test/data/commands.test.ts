/**
 * The inspection commands through the CLI: `tokenize` (plain SentencePiece against the oracle,
 * --special, --bos/--eos, --decode, bad lines) and `show_dataset` (summary, --jsonl, --verify).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { llamaModelFile, oracleLines, scratchDir } from '../reference/oracles.ts';
import { runCli } from '../fixtures.ts';

const dir = scratchDir();
let model = '';
before(async () => {
  model = await llamaModelFile(dir);
});

const lines = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';

describe('tokenize command', () => {
  it('prints SentencePiece ids per line, Llama ids with --special, and text with --decode', async () => {
    const texts = ['Hello world!', 'a</s>b', ' \n', '🦙 镇', ''];
    const plain = await runCli(['tokenize', '--model_file', model], { input: lines(texts) });
    assert.equal(plain.code, 0, plain.stderr);
    assert.equal(plain.stdout, lines(oracleLines<number[]>('sentencepiece_oracle.py', [model, 'encode'], texts)));
    const special = await runCli(['tokenize', '--special', '--bos', '--eos'], { input: lines(['a</s>b']) });
    assert.equal(special.stdout, '[1,263,2,289,2]\n');
    const withIds = await runCli(['tokenize', '--bos', '--eos'], { input: lines(['a</s>b']) });
    assert.equal(withIds.stdout, '[1,263,829,29879,29958,29890,2]\n');
    const decoded = await runCli(['tokenize', '--decode'], {
      input: lines([
        [1, 15043, 3186, 29991, 2],
        [29871, 243, 162, 169, 156],
      ]),
    });
    assert.equal(decoded.stdout, lines(['Hello world!', '🦙']));
  });

  it('names the input line that is not what it expects', async () => {
    const bad = await runCli(['tokenize'], { input: '"ok"\nnot json\n' });
    assert.deepEqual([bad.code, bad.stderr], [1, 'tokenize: stdin line 2: not JSON (expected a JSON string)\n']);
    const range = await runCli(['tokenize', '--decode'], { input: '[1, 99999]\n' });
    assert.deepEqual([range.code, range.stderr], [1, 'tokenize: stdin line 1: id 99999 is out of range [0, 32000)\n']);
  });
});

describe('show_dataset command', () => {
  it('summarizes a dataset, verifies it, and prints its records as JSON lines', async () => {
    const conv = join(dir, 'conv.json');
    writeFileSync(
      conv,
      JSON.stringify([
        {
          id: '1',
          conversations: [
            { from: 'human', value: 'Hi' },
            { from: 'gpt', value: 'Hello' },
          ],
        },
      ]),
    );
    const out = join(dir, 'ds');
    const made = await runCli([
      'llama_preprocess',
      '--dataset_type',
      'qa',
      '--input_glob',
      conv,
      '--seq_length',
      '40',
      '--output_file',
      out,
    ]);
    assert.equal(made.code, 0, made.stderr);
    const summary = await runCli(['show_dataset', out, '--verify']);
    assert.equal(summary.code, 0, summary.stderr);
    assert.match(
      summary.stdout,
      /^dataset: .*ds \(wasmformers-shards version 1\)\ntype: qa, seq_length 40, 1 records\ncolumns: input_ids \(int32 × 41\), labels \(int32 × 41\)\n/,
    );
    assert.match(summary.stdout, /checksums: all shards match\n$/);
    const jsonl = await runCli(['show_dataset', out, '--jsonl']);
    const [record] = jsonl.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.deepEqual(Object.keys(record), ['input_ids', 'labels']);
    assert.equal(record.input_ids.length, 41);
    assert.equal(record.input_ids[0], 1);
    const missing = await runCli(['show_dataset', join(dir, 'nothing-here')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^show_dataset: .*nothing-here: no index\.json/);
  });
});
