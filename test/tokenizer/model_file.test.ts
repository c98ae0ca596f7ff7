/** Reading tokenizer.model files: the errors for files that are not usable BPE models. */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer } from '../../src/tokenizer/load.ts';
import { llamaModelFile, scratchDir, trainModels } from '../reference/oracles.ts';

const dir = scratchDir();
let llama = '';
let unigram = '';
before(async () => {
  llama = await llamaModelFile(dir);
  unigram = trainModels(dir).unigram;
});

function file(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

describe('tokenizer.model files', () => {
  it('says a cut-off file is truncated, wherever it is cut', async () => {
    const bytes = readFileSync(llama);
    for (const n of [1, 7, 1000, bytes.length >> 1, bytes.length - 1]) {
      const path = file(`cut${n}.model`, bytes.subarray(0, n));
      await assert.rejects(
        loadTokenizer(path),
        (err: Error) => {
          assert.match(err.message, new RegExp(`^${path}: truncated`));
          return true;
        },
        `cut at ${n}`,
      );
    }
  });

  it('says a file is not a SentencePiece model when it is not one', async () => {
    const cases: [string, Uint8Array | string][] = [
      ['empty.model', ''],
      ['json.model', '{"model": {"type": "BPE", "vocab": {}}}'],
      ['text.model', 'hello world\n'],
      ['png.model', Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])],
    ];
    for (const [name, bytes] of cases) {
      const path = file(name, bytes);
      await assert.rejects(loadTokenizer(path), new RegExp(`^Error: ${path}: not a SentencePiece model`), name);
    }
  });

  it('refuses a unigram model and says only BPE is supported', async () => {
    await assert.rejects(
      loadTokenizer(unigram),
      new RegExp(`${unigram}: a unigram SentencePiece model; only BPE models are supported for now`),
    );
  });

  it('names a missing file or a folder', async () => {
    await assert.rejects(loadTokenizer(join(dir, 'nope.model')), /nope\.model: no such file/);
    await assert.rejects(
      loadTokenizer(dir),
      new RegExp(`^Error: ${dir}: a folder without tokenizer\\.json or tokenizer\\.model$`),
    );
  });
});
