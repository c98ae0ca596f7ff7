/**
 * The tokenizer.json written from a tokenizer.model the way Hugging Face's LlamaConverter writes
 * it (SentencePiece style: Prepend/Replace normalizer or a Metaspace pre-tokenizer, BPE with byte
 * fallback and merges from the scores, the Replace/ByteFallback/Fuse/Strip decoder, a template
 * with BOS): Hugging Face's Rust tokenizers on the written file give what Llama 2's
 * tokenizer.model gives through python3-sentencepiece (Hugging Face's slow LlamaTokenizer), and
 * this tokenizer gives what Hugging Face gives on the file, legacy or not. The CLI writes it.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonTokenizer } from '../../src/tokenizer/json/tokenizer.ts';
import { parseModel } from '../../src/tokenizer/model.ts';
import { llamaTokenizerJson } from '../../src/tokenizer/spm_to_json.ts';
import { runCli } from '../fixtures.ts';
import { llamaModelFile, oracleLines, scratchDir, trainModels } from '../reference/oracles.ts';
import {
  assertAllEqual,
  compareWithHuggingFace,
  comparisonStrings,
  rustEncode,
  rustTokenizer,
  sampleStrings,
} from './hf_oracle.ts';

const dir = scratchDir();
let model = '';
before(async () => {
  model = await llamaModelFile(dir);
});

function convert(legacy: boolean): string {
  return JSON.stringify(llamaTokenizerJson(parseModel(readFileSync(model), model), model, { legacy }));
}

describe('tokenizer.json from a tokenizer.model (LlamaConverter)', () => {
  it('gives, through Hugging Face, what the tokenizer.model gives through python3-sentencepiece: every Alpaca field and the edge cases', async () => {
    const strings = comparisonStrings();
    const json = convert(true);
    const viaHuggingFace = await rustEncode(rustTokenizer(json), strings, true);
    const viaSentencePiece = oracleLines<number[]>('llama_preprocess_ref.py', ['tok', model], strings); // [BOS, ..., EOS]
    assertAllEqual(
      strings,
      viaHuggingFace.map((ids) => [...ids, 2]),
      viaSentencePiece,
      'HF on the converted file vs the slow LlamaTokenizer',
    );
    await compareWithHuggingFace(
      JsonTokenizer.fromText(json, 'llama2.json'),
      json,
      strings,
      'converted Llama 2 (legacy)',
    );
  });

  it('encodes and decodes the non-legacy file (Metaspace, prepend_scheme first, no split) as Hugging Face does', async () => {
    const json = convert(false);
    const tok = JsonTokenizer.fromText(json, 'llama2-nonlegacy.json');
    await compareWithHuggingFace(tok, json, sampleStrings(), 'converted Llama 2 (not legacy)');
    assert.deepEqual(tok.encode(' \n', { bos: false, eos: false }), [29871, 13]); // legacy (SentencePiece) gives [259, 13]
  });

  it('refuses a model whose normalizer the converter would drop', () => {
    const trained = trainModels(dir);
    assert.throws(
      () => llamaTokenizerJson(parseModel(readFileSync(trained.bpeNfkc), trained.bpeNfkc), trained.bpeNfkc),
      new RegExp(`^Error: ${trained.bpeNfkc}: the Llama converter keeps only Llama's normalizer`),
    );
  });

  it('is written by `tokenize --write_json`, which refuses an existing output and a tokenizer.json input', async () => {
    const out = join(dir, 'written.json');
    const result = await runCli(['tokenize', '--model_file', model, '--write_json', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(readFileSync(out, 'utf8')), JSON.parse(convert(true)));
    const again = await runCli(['tokenize', '--model_file', model, '--write_json', out]);
    assert.deepEqual(
      [again.code, again.stderr],
      [1, `tokenize: ${out} already exists (a file); choose another --write_json\n`],
    );
    const fromJson = await runCli(['tokenize', '--model_file', out, '--write_json', join(dir, 'other.json')]);
    assert.deepEqual(
      [fromJson.code, fromJson.stderr],
      [1, `tokenize: --write_json needs a tokenizer.model; ${out} is a tokenizer.json already\n`],
    );
  });
});
