/**
 * `wasmformers convert_weight --model llama --input_path P --output_path Q [--dtype fp32|fp16|bf16]
 * [--reversed] [--config C]`: Hugging Face (a folder, sharded or not, or a safetensors file;
 * Meta's layout too, RoPE rows reordered) to a MindSpore `.ckpt` with MindFormers' names, or
 * with `--reversed` any checkpoint back to Hugging Face: a `.safetensors` file, or else a folder
 * with `model.safetensors` (and `config.json` when the config is known). Tensors keep their
 * dtype unless `--dtype` says otherwise; the output must not exist.
 *
 * `--output_format gguf [--dtype f32|f16|bf16|q8_0|q4_0|q5_0|q4_1|q5_1|q4_k|q5_k|q6_k|q4_k_m|q5_k_m] [--model_file T] [--adapter A]`: any
 * checkpoint (a GGUF file too) as one GGUF file for llama.cpp or Ollama, matrices of the given
 * type (default f16), the tokenizer T (a tokenizer.model; by default the one in P's folder)
 * written into it, and a PEFT adapter folder A merged into the base first (W += scale·B·A, the
 * scale from A's adapter_config.json).
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { prepareNewOutput } from '../io/atomic.ts';
import { castFloat, FLOAT_DTYPES, type DType } from '../checkpoint/dtypes.ts';
import { readConfigFile } from '../checkpoint/config_file.ts';
import { GGUF_OUTPUT_TYPES, writeGgufCheckpoint, type GgufOutputType } from '../checkpoint/gguf/write.ts';
import { mergeLora } from '../checkpoint/lora_merge.ts';
import { detectLayout } from '../checkpoint/names.ts';
import { findConfig, openTensors, relayout } from '../checkpoint/open.ts';
import { openAdapter } from '../checkpoint/peft.ts';
import type { TensorStore } from '../checkpoint/store.ts';
import { storeTensors, writeTensors, type OutputTensor } from '../checkpoint/write.ts';
import type { LlamaConfig } from '../model/config.ts';
import { loraScale } from '../model/lora.ts';
import { loadCore } from '../runtime/core.ts';
import { loadTokenizer } from '../tokenizer/load.ts';
import { parseFlags } from './flags.ts';

const DTYPES: Record<string, DType> = { fp32: 'F32', fp16: 'F16', bf16: 'BF16' };

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    model: { kind: 'string', required: true },
    input_path: { kind: 'string', required: true },
    output_path: { kind: 'string', required: true },
    dtype: { kind: 'string' },
    reversed: { kind: 'boolean', default: false },
    config: { kind: 'string' },
    output_format: { kind: 'string' },
    model_file: { kind: 'string' },
    adapter: { kind: 'string' },
  });
  if (f.model !== 'llama') throw new Error(`--model ${f.model} is not supported (only llama)`);
  if (f.output_format !== undefined && f.output_format !== 'gguf')
    throw new Error(`--output_format takes gguf (or is left out), got '${f.output_format}'`);
  if (f.output_format === 'gguf') return toGguf(f);
  for (const flag of ['model_file', 'adapter'] as const)
    if (f[flag] !== undefined) throw new Error(`--${flag} goes with --output_format gguf`);
  const dtype = f.dtype === undefined ? undefined : DTYPES[String(f.dtype)];
  if (f.dtype !== undefined && !dtype) throw new Error(`--dtype takes fp32, fp16 or bf16, got '${f.dtype}'`);
  const input = String(f.input_path),
    output = String(f.output_path),
    reversed = f.reversed === true;
  prepareNewOutput(output, '--output_path');
  const raw = openTensors(input);
  try {
    const config = f.config !== undefined ? readConfigFile(String(f.config)).config : findConfig(input, raw);
    const from = detectLayout(raw.tensors.keys());
    const store = relayout(raw, from, reversed ? 'hf' : 'mindformers', config);
    const tensors: OutputTensor[] = storeTensors(store).map((t) => {
      if (!dtype || !FLOAT_DTYPES.includes(t.info.dtype)) return t;
      return {
        name: t.name,
        info: { dtype, shape: t.info.shape },
        bytes: async () => castFloat(await t.bytes(), t.info.dtype, dtype, `${input}: tensor ${t.name}`),
      };
    });
    const [src, dst] = reversed ? ['mindspore', 'huggingface'] : ['huggingface', 'mindspore'];
    console.log(`Trying to convert ${src} checkpoint in '${input}'.`);
    const tty = process.stdout.isTTY;
    const format = !reversed ? 'ckpt' : output.endsWith('.safetensors') ? 'safetensors' : 'hf';
    await writeTensors(output, format, tensors, {
      config,
      onTensor: (t) => {
        if (tty) process.stdout.write(`\rprocessing parameter: ${t.name} [${t.info.shape}]     `);
      },
    });
    console.log(`${tty ? '\r' : ''}Convert ${src} checkpoint finished, the ${dst} checkpoint is saved in '${output}'.`);
    return 0;
  } finally {
    raw.close();
  }
}

/** The tokenizer to write: --model_file, else the tokenizer file in the checkpoint's folder (a GGUF input carries its own). */
function tokenizerPath(input: string, modelFile: string | undefined): string {
  if (modelFile !== undefined) return modelFile;
  if (input.endsWith('.gguf')) return input;
  const dir = existsSync(input) && statSync(input).isDirectory() ? input : dirname(input);
  for (const name of ['tokenizer.model', 'tokenizer.json']) if (existsSync(join(dir, name))) return join(dir, name);
  throw new Error(
    `${input}: no tokenizer.model beside the checkpoint; pass --model_file with the tokenizer to write into the GGUF file`,
  );
}

/** `--output_format gguf`: see the file comment. */
async function toGguf(f: Record<string, unknown>): Promise<number> {
  const input = String(f.input_path),
    output = String(f.output_path);
  const type = String(f.dtype ?? 'f16').toUpperCase() as GgufOutputType;
  if (!GGUF_OUTPUT_TYPES.includes(type))
    throw new Error(
      `--dtype with --output_format gguf takes ${GGUF_OUTPUT_TYPES.map((t) => t.toLowerCase()).join(', ')}, got '${f.dtype}'`,
    );
  prepareNewOutput(output, '--output_path');
  const tokenizer = await loadTokenizer(tokenizerPath(input, f.model_file as string | undefined));
  const raw = openTensors(input),
    opened: TensorStore[] = [raw];
  try {
    const config: LlamaConfig | undefined =
      f.config !== undefined ? readConfigFile(String(f.config)).config : findConfig(input, raw);
    if (!config) throw new Error(`${input}: no config.json or params.json beside the weights; pass --config`);
    let store = relayout(raw, detectLayout(raw.tensors.keys()), 'hf', config);
    if (f.adapter !== undefined) {
      const adapter = openAdapter(String(f.adapter));
      opened.push(adapter.tensors);
      const merged = mergeLora(await loadCore(), store, adapter.tensors, 'hf', loraScale(adapter.lora));
      if (!merged.merged.length)
        throw new Error(`${f.adapter}: the adapter has no LoRA factors for the weights of ${input}`);
      console.log(
        `Merging ${merged.merged.length} LoRA adapters with scale ${loraScale(adapter.lora)} (from ${f.adapter}/adapter_config.json)`,
      );
      store = merged.store;
    }
    console.log(`Trying to convert checkpoint in '${input}' to GGUF ${type.toLowerCase()}.`);
    await writeGgufCheckpoint(output, store, config, tokenizer.files, tokenizer.source, type);
    console.log(`Convert checkpoint finished, the GGUF file is saved in '${output}'.`);
    return 0;
  } finally {
    for (const s of opened) s.close();
  }
}
