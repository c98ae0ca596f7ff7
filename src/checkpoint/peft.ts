/**
 * Hugging Face PEFT LoRA adapters as folders (SPEC.md §9): `adapter_config.json` and
 * `adapter_model.safetensors` side by side, read and written as peft_adapter.ts reads and makes
 * their bytes; a local base model named in the config resolves from the adapter's folder.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { makeFolders, writeAtomically } from '../io/atomic.ts';
import type { LlamaWeights } from '../model/weights.ts';
import { modelTensors } from './model_tensors.ts';
import {
  ADAPTER_CONFIG as CONFIG,
  ADAPTER_WEIGHTS as WEIGHTS,
  adapterConfigText,
  adapterOf,
  parseAdapterConfig,
  PEFT_PREFIX,
  type Adapter,
} from './peft_adapter.ts';
import { SafetensorsFile } from './safetensors.ts';
import type { OutputTensor } from './write.ts';
import { writeFile } from './write.ts';

export { adapterConfig, checkAdapterLayers, PEFT_PREFIX, type Adapter } from './peft_adapter.ts';

/** An adapter folder's adapter_config.json as an object; errors name the file. */
function readAdapterConfig(cfgPath: string): Record<string, unknown> {
  if (!existsSync(cfgPath))
    throw new Error(`${cfgPath}: missing (a PEFT adapter folder holds ${CONFIG} and ${WEIGHTS})`);
  return parseAdapterConfig(readFileSync(cfgPath, 'utf8'), cfgPath);
}

/**
 * The base model an adapter folder names (`base_model_name_or_path`) as a path that exists:
 * absolute (as saveAdapter stores a local base) or relative to the adapter's own folder, so that
 * it resolves from any working folder.
 */
export function adapterBaseModel(dir: string): string {
  const cfgPath = join(dir, CONFIG),
    base = readAdapterConfig(cfgPath).base_model_name_or_path;
  if (typeof base !== 'string' || !base)
    throw new Error(`${cfgPath}: base_model_name_or_path must name the base model's folder or file`);
  const path = resolve(dir, base);
  if (!existsSync(path))
    throw new Error(`${cfgPath}: base_model_name_or_path ${base} does not exist (looked for ${path})`);
  return path;
}

/** Opens a PEFT adapter folder; errors name the file and the key or tensor. */
export function openAdapter(dir: string): Adapter {
  const cfgPath = join(dir, CONFIG);
  return adapterOf(readAdapterConfig(cfgPath), cfgPath, () => SafetensorsFile.open(join(dir, WEIGHTS)), dir);
}

/**
 * Writes a model's LoRA factors (or `factors`: a model-parallel job's, joined) and config as a new
 * PEFT adapter folder `dir`. A `baseModel` that is a local path is stored absolute, so that the
 * adapter finds its base from any working folder (a hub id is stored as given).
 */
export async function saveAdapter(
  dir: string,
  weights: LlamaWeights,
  baseModel: string | null = null,
  factors: OutputTensor[] = modelTensors(weights, { base: false }),
): Promise<void> {
  const lora = weights.options.lora;
  if (!lora || weights.options.mode !== 'finetune') throw new Error(`${dir}: the model has no LoRA adapters to save`);
  if (existsSync(dir)) throw new Error(`${dir} already exists; choose another output folder`);
  makeFolders(dirname(dir));
  const tensors = factors.map((t) => ({ ...t, name: PEFT_PREFIX + t.name }));
  await writeAtomically(
    dir,
    async (tmp) => {
      const base = baseModel && existsSync(baseModel) ? resolve(baseModel) : baseModel;
      writeFileSync(join(tmp, CONFIG), adapterConfigText(lora, base));
      await writeFile(join(tmp, WEIGHTS), 'safetensors', tensors);
    },
    { folder: true },
  );
}
