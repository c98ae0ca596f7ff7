/**
 * Where tokenizer.json files come in: loadTokenizer on a model folder (tokenizer.json preferred
 * to tokenizer.model), a .json file with its tokenizer_config.json, a file judged by its first
 * byte; `tokenize --model_file` on a tokenizer.json against Hugging Face's Rust tokenizers; and
 * `llama_preprocess` on a folder holding the converted Llama 2 tokenizer.json, which must give
 * the rows the tokenizer.model gives, and refuses a tokenizer without BOS.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as convertAlpaca } from '../../src/commands/alpaca_converter.ts';
import { ShardDataset } from '../../src/data/shard_reader.ts';
import { loadTokenizer } from '../../src/tokenizer/load.ts';
import { parseModel } from '../../src/tokenizer/model.ts';
import { llamaTokenizerJson } from '../../src/tokenizer/spm_to_json.ts';
import { runCli } from '../fixtures.ts';
import { alpacaRecords, llamaModelFile, scratchDir } from '../reference/oracles.ts';
import { QWEN3_JSON, rustDecode, rustEncode, rustTokenizer } from './hf_oracle.ts';

const dir = scratchDir();
let model = '';
let llama2Json = '';
before(async () => {
  model = await llamaModelFile(dir);
  llama2Json = JSON.stringify(llamaTokenizerJson(parseModel(readFileSync(model), model), model));
});

/** A folder holding the given files (name → content, or a path to copy). */
function folder(name: string, files: Record<string, string>): string {
  const path = join(dir, name);
  mkdirSync(path);
  for (const [file, content] of Object.entries(files)) {
    if (content.startsWith('/')) copyFileSync(content, join(path, file));
    else writeFileSync(join(path, file), content);
  }
  return path;
}

const lines = (xs: unknown[]) => xs.map((x) => JSON.stringify(x)).join('\n') + '\n';

describe('loading tokenizer.json', () => {
  it("takes a folder's tokenizer.json before its tokenizer.model, with the tokenizer_config.json beside it", async () => {
    const config = '{"bos_token": "<s>", "eos_token": {"content": "</s>"}, "pad_token": "<unk>"}';
    const both = folder('both', {
      'tokenizer.json': llama2Json,
      'tokenizer.model': model,
      'tokenizer_config.json': config,
    });
    const loaded = await loadTokenizer(both);
    assert.deepEqual(
      [loaded.source, loaded.files.format, loaded.sp],
      [join(both, 'tokenizer.json'), 'tokenizer.json', null],
    );
    assert.deepEqual(
      [loaded.tokenizer.bosId, loaded.tokenizer.eosId, loaded.tokenizer.padId, loaded.tokenizer.unkId],
      [1, 2, 0, 0],
    );
    assert.equal(loaded.sha256, createHash('sha256').update(llama2Json).update(config).digest('hex'));
    const modelOnly = await loadTokenizer(folder('model-only', { 'tokenizer.model': model }));
    assert.equal(modelOnly.files.format, 'tokenizer.model');
    assert.ok(modelOnly.sp);
    const unnamed = join(dir, 'unnamed');
    writeFileSync(unnamed, llama2Json);
    const sniffed = await loadTokenizer(unnamed);
    assert.deepEqual(
      [sniffed.files.format, sniffed.tokenizer.bosId, sniffed.tokenizer.eosId],
      ['tokenizer.json', 1, -1],
    ); // no config: BOS from the template
    assert.deepEqual(sniffed.tokenizer.encode('a</s>b'), [1, 263, 2, 289]);
  });

  it('`tokenize` prints what Hugging Face gives for a tokenizer.json: encode without special tokens, --bos with the template, --decode', async () => {
    const texts = ['Hello world!', "I'M here<|im_end|>\n\n", ' 12345 ', '🦙 镇', ''];
    const qwen = await runCli(['tokenize', '--model_file', QWEN3_JSON], { input: lines(texts) });
    assert.equal(qwen.code, 0, qwen.stderr);
    assert.equal(qwen.stdout, lines(await rustEncode(rustTokenizer(readFileSync(QWEN3_JSON, 'utf8')), texts, false)));
    const path = join(dir, 'llama2.json');
    writeFileSync(path, llama2Json);
    const rust = rustTokenizer(llama2Json);
    const withBos = await runCli(['tokenize', '--model_file', path, '--bos', '--eos'], { input: lines(texts) });
    const expected = await rustEncode(rust, texts, true);
    assert.equal(withBos.stdout, lines(expected));
    const decoded = await runCli(['tokenize', '--model_file', path, '--decode'], { input: lines(expected) });
    assert.equal(decoded.stdout, lines(await rustDecode(rust, expected, false)));
  });

  it('`llama_preprocess` gives the same rows from a folder with the converted tokenizer.json as from the tokenizer.model, and refuses a tokenizer without BOS', async () => {
    const data = join(dir, 'alpaca-400.json');
    writeFileSync(data, JSON.stringify(alpacaRecords().slice(0, 400)));
    const conversations = join(dir, 'conversations.json');
    await convertAlpaca(['--data_path', data, '--output_path', conversations]);
    const jsonFolder = folder('llama2-hf', {
      'tokenizer.json': llama2Json,
      'tokenizer_config.json':
        '{"bos_token": "<s>", "eos_token": "</s>", "add_bos_token": true, "add_eos_token": false}',
    });
    const run = (modelFile: string, out: string) =>
      runCli([
        'llama_preprocess',
        '--dataset_type',
        'qa',
        '--input_glob',
        conversations,
        '--model_file',
        modelFile,
        '--seq_length',
        '256',
        '--output_file',
        out,
        '--workers',
        '2',
      ]);
    const [fromJson, fromModel] = await Promise.all([
      run(jsonFolder, join(dir, 'rows-json')),
      run(model, join(dir, 'rows-model')),
    ]);
    assert.equal(fromJson.code, 0, fromJson.stderr);
    assert.equal(fromModel.code, 0, fromModel.stderr);
    const [a, b] = [ShardDataset.open(join(dir, 'rows-json')), ShardDataset.open(join(dir, 'rows-model'))];
    try {
      assert.equal(a.length, 400);
      for (let i = 0; i < a.length; i++) assert.deepEqual(a.record(i), b.record(i), `record ${i}`);
    } finally {
      a.close();
      b.close();
    }
    const qwen = await run(QWEN3_JSON, join(dir, 'rows-qwen'));
    assert.equal(qwen.code, 1);
    assert.match(qwen.stderr, new RegExp(`^llama_preprocess: ${QWEN3_JSON}: has no BOS token`));
    assert.equal(qwen.stderr.split('\n').length, 2, qwen.stderr);
  });
});
