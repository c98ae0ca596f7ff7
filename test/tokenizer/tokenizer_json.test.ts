/**
 * The tokenizer.json files of Llama 3 and Qwen3 (byte-level BPE: the Llama 3 split pattern with
 * ignore_merges, Qwen's with NFC) against Hugging Face's Rust tokenizers: every Alpaca field, the
 * edge cases and byte-level cases, encoded without and with special tokens, and decoded with and
 * without skipping special tokens; lone surrogates read as U+FFFD, as Hugging Face reads them
 * from JavaScript; and the special ids read from tokenizer_config.json.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JsonTokenizer } from '../../src/tokenizer/json/tokenizer.ts';
import {
  assertAllEqual,
  compareWithHuggingFace,
  comparisonStrings,
  LLAMA3_JSON,
  QWEN3_JSON,
  rustEncode,
  rustTokenizer,
} from './hf_oracle.ts';

function load(path: string): { tok: JsonTokenizer; json: string } {
  const json = readFileSync(path, 'utf8');
  const config = readFileSync(path.replace('tokenizer.json', 'tokenizer_config.json'), 'utf8');
  return { tok: JsonTokenizer.fromText(json, path, config), json };
}

describe('tokenizer.json (byte-level BPE)', () => {
  const strings = comparisonStrings();

  it('encodes and decodes as Hugging Face does: Llama 3, every Alpaca field and the edge cases', async () => {
    assert.ok(strings.length > 18000);
    const { tok, json } = load(LLAMA3_JSON);
    await compareWithHuggingFace(tok, json, strings, 'Llama 3');
    assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId, tok.padId, tok.unkId], [128256, 128000, 128001, -1, -1]);
    assert.deepEqual(tok.encode('Hello world!', { bos: false, eos: false }), [9906, 1917, 0]);
    const loneSurrogates = ['a\ud800b', '\udc00', 'x\ud83d', '\ud83d\ude00\ud83d'];
    assertAllEqual(
      loneSurrogates,
      loneSurrogates.map((s) => tok.encode(s, { bos: false, eos: false })),
      await rustEncode(rustTokenizer(json), loneSurrogates, false),
      'lone surrogates',
    );
  });

  it('encodes and decodes as Hugging Face does: Qwen3, every Alpaca field and the edge cases', async () => {
    const { tok, json } = load(QWEN3_JSON);
    await compareWithHuggingFace(tok, json, strings, 'Qwen3');
    assert.deepEqual([tok.vocabSize, tok.bosId, tok.eosId, tok.padId, tok.unkId], [151669, -1, 151645, 151643, -1]);
    assert.deepEqual(
      [tok.idToToken(151644), tok.tokenToId('<|im_end|>'), tok.tokenToId('no such token'), tok.idToToken(200000)],
      ['<|im_start|>', 151645, -1, null],
    );
  });
});
