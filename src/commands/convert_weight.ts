/**
 * `wasmformers convert_weight --model llama --input_path P --output_path Q [--dtype fp32|fp16|bf16]
 * [--reversed] [--config C]`: Hugging Face (a folder, sharded or not, or a safetensors file;
 * Meta's layout too, RoPE rows reordered) to a MindSpore `.ckpt` with MindFormers' names, or
 * with `--reversed` any checkpoint back to Hugging Face: a `.safetensors` file, or else a folder
 * with `model.safetensors` (and `config.json` when the config is known). Tensors keep their
 * dtype unless `--dtype` says otherwise; the output must not exist.
 */
import { prepareNewOutput } from '../data/atomic.ts';
import { castFloat, FLOAT_DTYPES, type DType } from '../checkpoint/dtypes.ts';
import { readConfigFile } from '../checkpoint/config_file.ts';
import { detectLayout } from '../checkpoint/names.ts';
import { findConfig, openTensors, relayout } from '../checkpoint/open.ts';
import { storeTensors, writeTensors, type OutputTensor } from '../checkpoint/write.ts';
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
  });
  if (f.model !== 'llama') throw new Error(`--model ${f.model} is not supported (only llama)`);
  const dtype = f.dtype === undefined ? undefined : DTYPES[String(f.dtype)];
  if (f.dtype !== undefined && !dtype) throw new Error(`--dtype takes fp32, fp16 or bf16, got '${f.dtype}'`);
  const input = String(f.input_path), output = String(f.output_path), reversed = f.reversed === true;
  prepareNewOutput(output, '--output_path');
  const raw = openTensors(input);
  try {
    const config = f.config !== undefined ? readConfigFile(String(f.config)).config : findConfig(input, raw);
    const from = detectLayout(raw.tensors.keys());
    const store = relayout(raw, from, reversed ? 'hf' : 'mindformers', config);
    const tensors: OutputTensor[] = storeTensors(store).map((t) => {
      if (!dtype || !FLOAT_DTYPES.includes(t.info.dtype)) return t;
      return { name: t.name, info: { dtype, shape: t.info.shape }, bytes: async () => castFloat(await t.bytes(), t.info.dtype, dtype, `${input}: tensor ${t.name}`) };
    });
    const [src, dst] = reversed ? ['mindspore', 'huggingface'] : ['huggingface', 'mindspore'];
    console.log(`Trying to convert ${src} checkpoint in '${input}'.`);
    const tty = process.stdout.isTTY;
    const format = !reversed ? 'ckpt' : output.endsWith('.safetensors') ? 'safetensors' : 'hf';
    await writeTensors(output, format, tensors, {
      config,
      onTensor: (t) => { if (tty) process.stdout.write(`\rprocessing parameter: ${t.name} [${t.info.shape}]     `); },
    });
    console.log(`${tty ? '\r' : ''}Convert ${src} checkpoint finished, the ${dst} checkpoint is saved in '${output}'.`);
    return 0;
  } finally {
    raw.close();
  }
}
