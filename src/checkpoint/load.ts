/**
 * Opening a Hugging Face checkpoint: a folder with config.json and model.safetensors, or a
 * .safetensors file with config.json beside it; and loading its tensors into a model.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Core } from '../runtime/core.ts';
import { configFromHF, type LlamaConfig } from '../model/config.ts';
import { LlamaModel, type ModelOptions } from '../model/llama.ts';
import { SafetensorsFile } from './safetensors.ts';

/** An opened checkpoint: its config and its weights file. */
export interface HFCheckpoint {
  config: LlamaConfig;
  weights: SafetensorsFile;
}

/** Opens `path` (folder or .safetensors file); errors name the path and what is missing. */
export function openCheckpoint(path: string): HFCheckpoint {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  const isDir = statSync(path).isDirectory();
  const folder = isDir ? path : dirname(path);
  const configPath = join(folder, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${configPath}: missing (a Hugging Face checkpoint needs its config.json)`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(configPath, 'utf8'));
  } catch (err) {
    throw new Error(`${configPath}: not valid JSON (${(err as Error).message})`);
  }
  const config = configFromHF(raw, configPath);
  const file = isDir ? join(path, 'model.safetensors') : path;
  if (!existsSync(file)) throw new Error(`${file}: missing (sharded checkpoints are not supported yet)`);
  return { config, weights: SafetensorsFile.open(file) };
}

/** Builds a model of the checkpoint's shape and loads its weights; shape mismatches name the tensor. */
export function loadModel(core: Core, path: string, options: ModelOptions): LlamaModel {
  const { config, weights } = openCheckpoint(path);
  try {
    const model = new LlamaModel(core, config, options);
    model.weights.load((name, shape) => {
      const t = weights.tensors.get(name);
      if (!t) return undefined;
      if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
        throw new Error(`${weights.path}: tensor ${name} has shape [${t.shape}], the model expects [${shape}]`);
      }
      return weights.readF32(name);
    }, weights.path);
    return model;
  } finally {
    weights.close();
  }
}
