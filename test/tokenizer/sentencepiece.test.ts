/**
 * The BPE tokenizer against SentencePiece itself (python3-sentencepiece): every instruction,
 * input and output of the 5,000 Alpaca records plus generated edge cases, encoded and decoded,
 * with Llama 2's model and with small BPE models trained here that use the features Llama 2's
 * does not (NFKC character map, whitespace removal, no byte fallback, user-defined and control
 * symbols, no dummy prefix).
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { SentencePieceProcessor } from '../../src/tokenizer/sentencepiece.ts';
import { PieceType } from '../../src/tokenizer/model.ts';
import {
  alpacaRecords,
  llamaModelFile,
  oracleLines,
  scratchDir,
  trainModels,
  type TrainedModels,
} from '../reference/oracles.ts';
import { edgeStrings } from './edge_strings.ts';

const dir = scratchDir();
let llama = '';
let trained: TrainedModels;
before(async () => {
  llama = await llamaModelFile(dir);
  trained = trainModels(dir);
});

function load(path: string): SentencePieceProcessor {
  return SentencePieceProcessor.fromBytes(readFileSync(path), path);
}

/** Id lists that exercise decoding: mostly low ids (bytes, specials), some anywhere. */
function randomIdLists(count: number, vocabSize: number): number[][] {
  let seed = 12345;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const lists: number[][] = [];
  for (let k = 0; k < count; k++) {
    const n = Math.floor(rand() * 12);
    const ids: number[] = [];
    for (let j = 0; j < n; j++)
      ids.push(rand() < 0.5 ? Math.floor(rand() * Math.min(300, vocabSize)) : Math.floor(rand() * vocabSize));
    lists.push(ids);
  }
  return lists;
}

/** Asserts that ours and the oracle agree on every input; reports the first few that do not. */
function assertAllEqual<I, O>(inputs: I[], ours: O[], theirs: O[], what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: count`);
  const bad: string[] = [];
  for (let i = 0; i < inputs.length; i++) {
    if (JSON.stringify(ours[i]) !== JSON.stringify(theirs[i]))
      bad.push(
        `${JSON.stringify(inputs[i]).slice(0, 80)}: ours ${JSON.stringify(ours[i]).slice(0, 80)}, SentencePiece ${JSON.stringify(theirs[i]).slice(0, 80)}`,
      );
  }
  assert.equal(bad.length, 0, `${what}: ${bad.length} of ${inputs.length} differ, e.g.\n${bad.slice(0, 5).join('\n')}`);
}

/** Encodes strings and decodes ids with ours and with SentencePiece, and compares. */
function compareWithSentencePiece(modelPath: string, strings: string[], randomLists: number): void {
  const sp = load(modelPath);
  const expectedIds = oracleLines<number[]>('sentencepiece_oracle.py', [modelPath, 'encode'], strings);
  assertAllEqual(
    strings,
    strings.map((s) => sp.encode(s)),
    expectedIds,
    `encode with ${modelPath}`,
  );
  const idLists = [...expectedIds, ...randomIdLists(randomLists, sp.vocab.size)];
  const expectedText = oracleLines<string>('sentencepiece_oracle.py', [modelPath, 'decode'], idLists);
  assertAllEqual(
    idLists,
    idLists.map((ids) => sp.decode(ids)),
    expectedText,
    `decode with ${modelPath}`,
  );
}

describe('SentencePiece BPE', () => {
  it('encodes and decodes like SentencePiece: every Alpaca field and 6,000 edge cases, Llama 2 model', () => {
    const strings: string[] = [];
    for (const r of alpacaRecords()) strings.push(r.instruction, r.input, r.output);
    strings.push(...edgeStrings(6000));
    assert.ok(strings.length >= 21000);
    compareWithSentencePiece(llama, strings, 3000);
  });

  it('encodes and decodes like SentencePiece with BPE models that normalize (NFKC), drop extra spaces, lack byte fallback or a dummy prefix, or have user-defined pieces', () => {
    const strings = edgeStrings(3000, 11);
    for (const r of alpacaRecords().slice(2000, 2500)) strings.push(r.instruction, r.input, r.output);
    compareWithSentencePiece(trained.bpeNfkc, strings, 1000);
    compareWithSentencePiece(trained.bpeBytes, strings, 1000);
  });

  it('reads every piece, score and type, and the special ids, as SentencePiece does', () => {
    for (const path of [llama, trained.bpeNfkc, trained.bpeBytes]) {
      const sp = load(path);
      const lines = oracleLines<[string, number, number] | Record<string, number>>(
        'sentencepiece_oracle.py',
        [path, 'vocab'],
        [],
      );
      const special = lines.pop() as Record<string, number>;
      assert.equal(sp.vocab.size, lines.length, `${path}: piece count`);
      lines.forEach((line, id) => {
        const [piece, score, type] = line as [string, number, number];
        const ourType = sp.vocab.types[id] === PieceType.UserDefined ? PieceType.Normal : sp.vocab.types[id];
        assert.deepEqual(
          [sp.vocab.pieces[id], sp.vocab.scores[id], ourType],
          [piece, Math.fround(score), type],
          `${path}: piece ${id}`,
        );
      });
      assert.deepEqual(
        { unk: sp.vocab.unkId, bos: sp.vocab.bosId, eos: sp.vocab.eosId, pad: sp.vocab.padId },
        special,
        `${path}: special ids`,
      );
    }
  });

  it('reads a lone UTF-16 surrogate as U+FFFD, as UTF-8 encoding of the text would', () => {
    const sp = load(llama);
    assert.deepEqual(sp.encode('a\ud800b'), sp.encode('a\ufffdb'));
    assert.deepEqual(sp.encode('\udc00'), sp.encode('\ufffd'));
    assert.deepEqual(sp.encode('🦙'), [29871, 243, 162, 169, 156]);
  });

  it('throws on ids outside the vocabulary', () => {
    const sp = load(llama);
    assert.throws(() => sp.decode([1, 32000]), /id 32000 is out of range \[0, 32000\)/);
    assert.throws(() => sp.decode([-1]), /id -1 is out of range/);
  });
});
