/**
 * The `--config` of the checkpoint commands: a MindFormers YAML (its model_config and
 * pet_config), a Hugging Face `config.json`, or a PEFT `adapter_config.json`.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadRunConfig } from '../config/load.ts';
import { configFromHF, configFromMindFormers, type LlamaConfig } from '../model/config.ts';
import { loraFromPetConfig, type LoraConfig } from '../model/lora.ts';
import { openAdapter } from './peft.ts';

/** What a config file says about the model and its LoRA adapters. */
export interface ConfigFile {
  config?: LlamaConfig;
  lora?: LoraConfig;
}

/** Reads a config file of any of the three kinds; errors name the file. */
export function readConfigFile(path: string): ConfigFile {
  if (/\.ya?ml$/.test(path)) {
    const mc = loadRunConfig(path, [], () => undefined).model.model_config,
      where = `${path}: model.model_config`;
    return { config: configFromMindFormers(mc, where), lora: loraFromPetConfig(mc.pet_config, `${where}.pet_config`) };
  }
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(
      `${path}: not a readable JSON or YAML config (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`,
    );
  }
  if (raw !== null && typeof raw === 'object' && 'peft_type' in raw) {
    const adapter = openAdapter(dirname(path));
    adapter.tensors.close();
    return { lora: adapter.lora };
  }
  return { config: configFromHF(raw, path) };
}
