/**
 * The model part of a MindFormers YAML (configs/llama2/*.yaml): `model.model_config` with its
 * `pet_config` (LoRA) block, read into a LlamaConfig and a LoraConfig.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { configFromMindFormers, type LlamaConfig } from './config.ts';
import type { LoraConfig } from './lora.ts';

/** What a MindFormers YAML says about the model. */
export interface MindFormersModel {
  config: LlamaConfig;
  /** from model_config.pet_config when pet_type is lora */
  lora?: LoraConfig;
}

/** Parses YAML text (`where` names the file in errors). */
export function modelFromYamlText(text: string, where: string): MindFormersModel {
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (err) {
    throw new Error(`${where}: not valid YAML (${(err as Error).message.split('\n')[0]})`);
  }
  const mc = (doc as { model?: { model_config?: unknown } } | null)?.model?.model_config;
  if (!mc || typeof mc !== 'object') throw new Error(`${where}: missing key model.model_config`);
  const block = mc as Record<string, unknown>;
  const config = configFromMindFormers(block, `${where}: model.model_config`);
  const pet = block.pet_config as Record<string, unknown> | undefined;
  if (!pet) return { config };
  const at = `${where}: model.model_config.pet_config`;
  if (pet.pet_type !== 'lora') throw new Error(`${at}.pet_type ${JSON.stringify(pet.pet_type)} is not supported (only lora)`);
  const num = (k: string, fallback: number): number => {
    const v = pet[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new Error(`${at}.${k} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  const targets = pet.target_modules;
  if (typeof targets !== 'string' && !(Array.isArray(targets) && targets.every((t) => typeof t === 'string'))) {
    throw new Error(`${at}.target_modules must be a regex string or a list of names`);
  }
  return { config, lora: { rank: num('lora_rank', 8), alpha: num('lora_alpha', 16), dropout: num('lora_dropout', 0), targetModules: targets } };
}

/** Reads a MindFormers YAML file's model block. */
export function modelFromYamlFile(path: string): MindFormersModel {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return modelFromYamlText(text, path);
}
