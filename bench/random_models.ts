/**
 * Random-weight models of published shapes for the inference benchmarks: a checkpoint folder
 * from init_checkpoint (with the bundled Llama 2 tokenizer beside it) and GGUF files of it from
 * convert_weight, so that we and llama.cpp run the same weights.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main as convertWeight } from '../src/commands/convert_weight.ts';
import { main as initCheckpoint } from '../src/commands/init_checkpoint.ts';
import { bundledLlama2Model } from '../src/tokenizer/load.ts';

/** A Llama shape: hidden size, layers, query and kv heads, FFN width (vocabulary 32000). */
export interface Shape {
  name: string;
  dim: number;
  layers: number;
  heads: number;
  kvHeads: number;
  ffn: number;
}

/** stories110M (llama2.c), the shape most benchmarks use. */
export const STORIES_110M: Shape = { name: 'stories110M', dim: 768, layers: 12, heads: 12, kvHeads: 12, ffn: 2048 };

/** Runs a command's main with its console output swallowed; a failure throws. */
async function quiet(main: (argv: string[]) => Promise<number>, argv: string[]): Promise<void> {
  const log = console.log;
  console.log = () => {};
  try {
    if ((await main(argv)) !== 0) throw new Error(`${argv.join(' ')} failed`);
  } finally {
    console.log = log;
  }
}

/** Writes a random checkpoint of `shape` (f32 or bf16 safetensors, seq_length 256) to `dir/<name>`; returns the folder. */
export async function randomCheckpoint(dir: string, shape: Shape, dtype: 'f32' | 'bf16'): Promise<string> {
  const model = join(dir, shape.name),
    o = (k: string, v: number) => [`--model.model_config.${k}`, String(v)];
  await quiet(initCheckpoint, [
    '--config',
    'configs/llama2/train_tiny.yaml',
    '--output_dir',
    model,
    '--dtype',
    dtype,
    ...o('hidden_size', shape.dim),
    ...o('num_layers', shape.layers),
    ...o('num_heads', shape.heads),
    ...o('n_kv_heads', shape.kvHeads),
    ...o('intermediate_size', shape.ffn),
    ...o('seq_length', 256),
  ]);
  writeFileSync(join(model, 'tokenizer.model'), await bundledLlama2Model());
  return model;
}

/** Writes the checkpoint folder `model` as a GGUF file of `dtype` (f32, bf16, q8_0, q4_0, ...); returns its path. */
export async function ggufOf(model: string, dtype: string): Promise<string> {
  const file = `${model}.${dtype}.gguf`;
  await quiet(convertWeight, [
    '--model',
    'llama',
    '--input_path',
    model,
    '--output_path',
    file,
    '--output_format',
    'gguf',
    '--dtype',
    dtype,
  ]);
  return file;
}
