/**
 * Loading a checkpoint into a model: open any supported path (open.ts), name its tensors the
 * Hugging Face way, check every shape, and copy base weights and LoRA factors into the arena.
 * What the network has and the checkpoint lacks, and the reverse, are reported as MindFormers
 * reports them; a missing base weight is an error, a missing LoRA factor keeps its initial value.
 */
import type { Core } from '../runtime/core.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { LlamaModel, ModelOptions } from '../model/llama.ts';
import type { WeightOptions } from '../model/weights.ts';
import { checkpointOf, loadModelWith, storedWeightTypesOf, type Checkpoint, type LoadReport } from './load_weights.ts';
import { detectLayout } from './names.ts';
import { findConfig, openTensors } from './open.ts';
import { openAdapter, type Adapter } from './peft.ts';
import { rankShareOf } from './slicing.ts';
import { rankShare, type ModelShare } from '../model/sharding.ts';

export { checkBaseTensors, formatLoadReport, type LoadReport } from './load_weights.ts';

/**
 * Opens a checkpoint path (file or folder, any layout); `config` is the model's when the caller
 * has it (a MindFormers YAML), else config.json or params.json beside the weights.
 */
export function openCheckpoint(path: string, config?: LlamaConfig): Checkpoint {
  const raw = openTensors(path);
  try {
    const layout = detectLayout(raw.tensors.keys());
    const found = config ?? findConfig(path, raw);
    if (!found)
      throw new Error(`${path}: no config.json or params.json beside the weights, and no model config was given`);
    return checkpointOf(raw, found, layout);
  } catch (err) {
    raw.close();
    throw err;
  }
}

/** The weight types of a model that keeps the frozen matrices of the checkpoint at `path` (of `config`) as stored, from its header alone. */
export function storedWeightTypesAt(
  path: string,
  config: LlamaConfig,
): Required<Pick<WeightOptions, 'weightType' | 'matrixTypes'>> {
  const ckpt = openCheckpoint(path, config);
  try {
    return storedWeightTypesOf(ckpt);
  } finally {
    ckpt.weights.close();
  }
}

/** What loadModel may be given besides the path. */
export interface LoadOptions {
  /** the model's config (else config.json or params.json beside the weights) */
  config?: LlamaConfig;
  /** a PEFT adapter (a folder, or one opened) whose LoRA settings and factors the model takes */
  adapter?: string | Adapter;
  /** receives what was not loaded (by default nothing is printed) */
  report?: (r: LoadReport) => void;
  /** a model-parallel rank: the model is its share, and it takes its slices of the (whole) checkpoint */
  share?: ModelShare;
}

/** Builds a model of the checkpoint's shape and loads it (and an adapter, if given). */
export async function loadModel(
  core: Core,
  path: string,
  options: ModelOptions,
  opts: LoadOptions = {},
): Promise<LlamaModel> {
  const adapter = typeof opts.adapter === 'string' ? openAdapter(opts.adapter) : opts.adapter;
  const opened = openCheckpoint(path, opts.config),
    share = opts.share;
  const ckpt = share
    ? {
        config: rankShare(opened.config, share.parts, path),
        weights: rankShareOf(opened.weights, share),
        layout: opened.layout,
        ...(opened.storedTypes ? { storedTypes: opened.storedTypes } : {}),
      }
    : opened; // a rank's slices: no whole blocks taken as stored (blocks of the stored types are made again)
  const adapterTensors = adapter && share ? rankShareOf(adapter.tensors, share) : adapter?.tensors;
  try {
    return await loadModelWith(core, ckpt, options, {
      adapter: adapter && { ...adapter, tensors: adapterTensors! },
      share,
      report: opts.report,
    });
  } finally {
    ckpt.weights.close();
    adapterTensors?.close();
  }
}
