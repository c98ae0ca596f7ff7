/**
 * Test access to the Python oracles (Debian's python3-sentencepiece through /usr/bin/python3,
 * which CI installs), the real Alpaca data beside the project, and the model files they need:
 * the bundled Llama 2 model written to a temporary file, and small models trained on the spot.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledLlama2Model } from '../../src/tokenizer/load.ts';

/** The interpreter that has python3-sentencepiece (a plain `python3` may not). */
export const PYTHON = '/usr/bin/python3';

/** The real Alpaca records beside the project (read in place, never copied into it). */
import { ALPACA as ALPACA_5000 } from '../fixtures.ts';
export { ALPACA_5000 };

const here = new URL('.', import.meta.url).pathname;

/** Runs a Python script of test/reference with arguments and stdin; returns stdout. */
export function runPython(script: string, args: string[], input = ''): string {
  return execFileSync(PYTHON, [join(here, script), ...args], { input, maxBuffer: 1 << 30 }).toString();
}

/** Runs an oracle that reads JSON lines and writes one JSON line per input line. */
export function oracleLines<T>(script: string, args: string[], inputs: unknown[]): T[] {
  const out = runPython(script, args, inputs.map((x) => JSON.stringify(x)).join('\n') + '\n');
  return out
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as T);
}

/** A temporary folder for one test file, removed at process exit. */
export function scratchDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wasmformers-test-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes the bundled Llama 2 tokenizer.model into dir; returns its path. */
export async function llamaModelFile(dir: string): Promise<string> {
  const path = join(dir, 'llama2.model');
  writeFileSync(path, await bundledLlama2Model());
  return path;
}

/** Paths of small models trained by test/reference/train_models.py on Alpaca text. */
export interface TrainedModels {
  bpeNfkc: string;
  bpeBytes: string;
  unigram: string;
}

/** Trains the small models into dir (about two seconds). */
export function trainModels(dir: string): TrainedModels {
  const corpus = join(dir, 'corpus.txt');
  const lines: string[] = [];
  for (const r of alpacaRecords().slice(0, 1500))
    for (const v of [r.instruction, r.input, r.output]) if (v) lines.push(...v.split('\n'));
  lines.push('Ünïcödé ｆｕｌｌｗｉｄｔｈ ① ﬁ 镇 🦙 e\u0301');
  writeFileSync(corpus, lines.join('\n'));
  runPython('train_models.py', [corpus, dir]);
  return {
    bpeNfkc: join(dir, 'bpe_nfkc.model'),
    bpeBytes: join(dir, 'bpe_bytes.model'),
    unigram: join(dir, 'unigram.model'),
  };
}

/** One Alpaca record. */
export interface AlpacaRecord {
  instruction: string;
  input: string;
  output: string;
}

/** The 5,000 real Alpaca records. */
export function alpacaRecords(): AlpacaRecord[] {
  return JSON.parse(readFileSync(ALPACA_5000, 'utf8')) as AlpacaRecord[];
}
