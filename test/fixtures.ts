/** Paths every test shares: the repository root and the real data and checkpoint in ../shared. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root (ends with '/'). */
export const ROOT = new URL('../', import.meta.url).pathname;
/** ../shared beside the checkout: real data and a real Hugging Face checkpoint, never copied in. */
export const SHARED = join(ROOT, '..', 'shared');
/** The tiny random Llama 2 checkpoint (config.json + model.safetensors). */
export const TINY = join(SHARED, 'models', 'tiny-random-llama-2');
/** The 5,000 Alpaca records. */
export const ALPACA = join(SHARED, 'data', 'alpaca', 'alpaca_5000.json');
/** The bundled command line (dist/src/cli.js), run as users run it. */
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

/**
 * Writes qa shards of Alpaca records under `dir/name` as users make them (alpaca_converter, then
 * llama_preprocess --dataset_type qa at `seqLength`): the first `count` records, or all 5,000
 * without it; tokenized by `modelFile`, or the bundled Llama 2 tokenizer without it. Returns the
 * shard folder.
 */
export function alpacaQaShards(
  dir: string,
  name: string,
  seqLength: number,
  count?: number,
  modelFile?: string,
): string {
  let source = ALPACA;
  if (count !== undefined) {
    source = join(dir, 'alpaca.json');
    writeFileSync(source, JSON.stringify(JSON.parse(readFileSync(ALPACA, 'utf8')).slice(0, count)));
  }
  const conversations = join(dir, 'conv.json'),
    shards = join(dir, name);
  execFileSync(process.execPath, [CLI, 'alpaca_converter', '--data_path', source, '--output_path', conversations]);
  execFileSync(process.execPath, [
    CLI,
    'llama_preprocess',
    '--dataset_type',
    'qa',
    '--input_glob',
    conversations,
    '--seq_length',
    String(seqLength),
    '--output_file',
    shards,
    '--workers',
    '0',
    ...(modelFile === undefined ? [] : ['--model_file', modelFile]),
  ]);
  return shards;
}
