/**
 * `wasmformers transform_ckpt_lora --src_ckpt_path_or_dir P --dst_ckpt_dir D
 * [--lora_checkpoint A] [--config C] [--lora_scaling S] [--save_format ckpt|safetensors]`:
 * merges LoRA into the base weights, W += scale·B·A, and writes a whole checkpoint
 * `D/merged_lora.ckpt` (MindFormers' names) or `D/merged_lora.safetensors` (Hugging Face's).
 * The factors are the ones in P (a LoRA fine-tuning checkpoint, whole or rank folders) or in
 * A (a PEFT adapter folder or a checkpoint of LoRA tensors). The scale comes from the adapter's
 * own config: A's adapter_config.json, or C (the training YAML's pet_config, or an
 * adapter_config.json); `--lora_scaling` (a number or `alpha/rank`) may be given instead, and
 * must agree when both are. There is no default: MindFormers' default of 1 silently makes a
 * different model.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { prepareNewOutput } from '../io/atomic.ts';
import { loadCore } from '../runtime/core.ts';
import { loraScale, type LoraConfig } from '../model/lora.ts';
import { readConfigFile } from '../checkpoint/config_file.ts';
import { mergeLora } from '../checkpoint/lora_merge.ts';
import { detectLayout } from '../checkpoint/names.ts';
import { findConfig, openTensors, relayout } from '../checkpoint/open.ts';
import { openAdapter } from '../checkpoint/peft.ts';
import type { TensorStore } from '../checkpoint/store.ts';
import { storeTensors, writeTensors } from '../checkpoint/write.ts';
import { parseFlags } from './flags.ts';

/** `--lora_scaling`: a number, or alpha/rank written as a fraction. */
function parseScaling(text: string): number {
  const m = /^\s*([0-9.eE+-]+)\s*(?:\/\s*([0-9.eE+-]+)\s*)?$/.exec(text);
  const value = m ? Number(m[1]) / (m[2] === undefined ? 1 : Number(m[2])) : NaN;
  if (!Number.isFinite(value)) throw new Error(`--lora_scaling takes a number or alpha/rank, got '${text}'`);
  return value;
}

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    src_ckpt_path_or_dir: { kind: 'string', required: true },
    dst_ckpt_dir: { kind: 'string', required: true },
    lora_checkpoint: { kind: 'string' },
    config: { kind: 'string' },
    lora_scaling: { kind: 'string' },
    save_format: { kind: 'string', default: 'ckpt' },
  });
  const format = String(f.save_format);
  if (format !== 'ckpt' && format !== 'safetensors')
    throw new Error(`--save_format takes ckpt or safetensors, got '${format}'`);
  const src = String(f.src_ckpt_path_or_dir),
    output = join(String(f.dst_ckpt_dir), `merged_lora.${format}`);
  prepareNewOutput(output, '--dst_ckpt_dir');
  const fromConfig = f.config === undefined ? {} : readConfigFile(String(f.config));
  const opened: TensorStore[] = [];
  try {
    const rawBase = openTensors(src);
    opened.push(rawBase);
    const config = fromConfig.config ?? findConfig(src, rawBase);
    const base = relayout(rawBase, detectLayout(rawBase.tensors.keys()), 'hf', config);
    let lora = base,
      adapterLora: LoraConfig | undefined;
    if (f.lora_checkpoint !== undefined) {
      const path = String(f.lora_checkpoint);
      if (existsSync(join(path, 'adapter_config.json'))) {
        const adapter = openAdapter(path);
        opened.push(adapter.tensors);
        lora = adapter.tensors;
        adapterLora = adapter.lora;
      } else {
        const raw = openTensors(path);
        opened.push(raw);
        lora = relayout(raw, detectLayout(raw.tensors.keys()), 'hf', config);
      }
    }
    const sources = [
      adapterLora && { scale: loraScale(adapterLora), from: `${f.lora_checkpoint}/adapter_config.json` },
      fromConfig.lora && { scale: loraScale(fromConfig.lora), from: `${f.config}` },
      f.lora_scaling !== undefined && { scale: parseScaling(String(f.lora_scaling)), from: '--lora_scaling' },
    ].filter((s): s is { scale: number; from: string } => !!s);
    if (!sources.length) {
      throw new Error(
        'the LoRA scale is unknown: pass --config with the training YAML (pet_config) or the adapter_config.json, or --lora_scaling lora_alpha/lora_rank (there is no default: a scale of 1 would silently give another model)',
      );
    }
    for (const s of sources)
      if (Math.abs(s.scale - sources[0].scale) > 1e-12 * Math.abs(sources[0].scale))
        throw new Error(
          `the LoRA scale ${s.scale} from ${s.from} disagrees with ${sources[0].scale} from ${sources[0].from}`,
        );
    const core = await loadCore();
    const { store, merged } = mergeLora(core, base, lora, 'hf', sources[0].scale);
    if (!merged.length)
      throw new Error(
        `${lora.where}: no LoRA factors (lora_A/lora_B or mindpet_delta_lora_a/_b) match a weight of ${src}`,
      );
    const out = format === 'ckpt' ? relayout(store, 'hf', 'mindformers') : store;
    console.log(`Merging ${merged.length} LoRA adapters with scale ${sources[0].scale} (from ${sources[0].from})`);
    await writeTensors(output, format, storeTensors(out));
    console.log(`......Merge succeed!....... ${output}`);
    return 0;
  } finally {
    for (const s of opened) s.close();
  }
}
