/**
 * Loading a checkpoint into a model: open any supported path (open.ts), name its tensors the
 * Hugging Face way, check every shape, and copy base weights and LoRA factors into the arena.
 * What the network has and the checkpoint lacks, and the reverse, are reported as MindFormers
 * reports them; a missing base weight is an error, a missing LoRA factor keeps its initial value.
 */
import type { Core } from '../runtime/core.ts';
import type { LlamaConfig } from '../model/config.ts';
import { LlamaModel, type ModelOptions } from '../model/llama.ts';
import type { LlamaWeights } from '../model/weights.ts';
import { decodeF32 } from './dtypes.ts';
import { detectLayout, mapName, type Layout } from './names.ts';
import { findConfig, openTensors, relayout } from './open.ts';
import { openAdapter } from './peft.ts';
import { readEach, type TensorStore } from './store.ts';

/** An opened checkpoint: its config and its tensors under Hugging Face names. */
export interface Checkpoint {
  config: LlamaConfig;
  /** tensors by Hugging Face name */
  weights: TensorStore;
  /** how the file names them */
  layout: Layout;
}

/**
 * Opens a checkpoint path (file or folder, any layout); `config` is the model's when the caller
 * has it (a MindFormers YAML), else config.json or params.json beside the weights.
 */
export function openCheckpoint(path: string, config?: LlamaConfig): Checkpoint {
  const raw = openTensors(path);
  try {
    const layout = detectLayout(raw.tensors.keys());
    const found = config ?? findConfig(path, raw);
    if (!found) throw new Error(`${path}: no config.json or params.json beside the weights, and no model config was given`);
    return { config: found, weights: relayout(raw, layout, 'hf', found), layout };
  } catch (err) {
    raw.close();
    throw err;
  }
}

/** Parameters that were not loaded: the network's without a tensor, the checkpoint's without a place. */
export interface LoadReport {
  notLoaded: string[];
  unused: string[];
}

/** MindFormers' line for a load: `Network parameters are not loaded: ([...], [...])`. */
export function formatLoadReport(r: LoadReport): string {
  const list = (names: string[]) => `[${names.map((n) => `'${n}'`).join(', ')}]`;
  return `Network parameters are not loaded: (${list(r.notLoaded)}, ${list(r.unused)})`;
}

/** One tensor the network takes: its HF name, shape, and where the f32 values go. */
interface Slot {
  name: string;
  shape: number[];
  base: boolean;
  store(values: Float32Array): void;
}

function slots(w: LlamaWeights): Slot[] {
  const arena = w.core.arena;
  const out: Slot[] = w.baseTensors().map((t) => ({
    name: t.name, shape: t.shape, base: true,
    store: (v: Float32Array) => (t.matrix ? w.setMatrix(t.matrix, v) : arena.f32(t.vector!, v.length).set(v)),
  }));
  for (const layer of w.layers) {
    for (const ad of Object.values(layer.lora)) {
      for (const p of [ad.a, ad.b]) out.push({ name: p.name, shape: p.shape, base: false, store: (v) => arena.f32(p.ptr, p.n).set(v) });
    }
  }
  return out;
}

/**
 * Copies a checkpoint's tensors into a model's weights (reading the next tensor while the last
 * is stored); with `base: false` only the LoRA factors (an adapter). Shape mismatches and
 * missing base weights are errors naming the tensors.
 */
export async function loadWeights(weights: LlamaWeights, ckpt: Checkpoint, { base = true } = {}): Promise<LoadReport> {
  const store = ckpt.weights, as = (name: string) => mapName(name, 'hf', ckpt.layout === 'meta' ? 'hf' : ckpt.layout);
  const want = slots(weights).filter((s) => base || !s.base);
  const present = want.filter((s) => store.tensors.has(s.name));
  for (const s of present) {
    const t = store.tensors.get(s.name)!;
    if (t.shape.join() !== s.shape.join()) throw new Error(`${store.where}: tensor ${as(s.name)} has shape [${t.shape}], the model expects [${s.shape}]`);
  }
  const missingBase = want.filter((s) => s.base && !store.tensors.has(s.name)).map((s) => as(s.name));
  if (missingBase.length) throw new Error(`${store.where}: missing ${missingBase.length} tensor(s): ${missingBase.slice(0, 5).join(', ')}${missingBase.length > 5 ? ', ...' : ''}`);
  const slot = new Map(present.map((s) => [s.name, s]));
  for await (const [name, bytes] of readEach(store, present.map((s) => s.name))) {
    slot.get(name)!.store(decodeF32(bytes, store.tensors.get(name)!.dtype, `${store.where}: tensor ${as(name)}`));
  }
  const taken = new Set(want.map((s) => s.name));
  return {
    notLoaded: want.filter((s) => !store.tensors.has(s.name)).map((s) => as(s.name)),
    unused: [...store.tensors.keys()].filter((n) => !taken.has(n)).map(as),
  };
}

/** What loadModel may be given besides the path. */
export interface LoadOptions {
  /** the model's config (else config.json or params.json beside the weights) */
  config?: LlamaConfig;
  /** a PEFT adapter folder whose LoRA settings and factors the model takes */
  adapter?: string;
  /** receives what was not loaded (by default nothing is printed) */
  report?: (r: LoadReport) => void;
}

/** Builds a model of the checkpoint's shape and loads it (and an adapter, if given). */
export async function loadModel(core: Core, path: string, options: ModelOptions, opts: LoadOptions = {}): Promise<LlamaModel> {
  const adapter = opts.adapter === undefined ? undefined : openAdapter(opts.adapter);
  const ckpt = openCheckpoint(path, opts.config);
  try {
    if (adapter && options.lora && JSON.stringify(options.lora) !== JSON.stringify(adapter.lora)) {
      throw new Error(`${opts.adapter}: the adapter's LoRA settings ${JSON.stringify(adapter.lora)} differ from the model's ${JSON.stringify(options.lora)}`);
    }
    const model = new LlamaModel(core, ckpt.config, adapter ? { ...options, lora: adapter.lora } : options);
    const report = await loadWeights(model.weights, ckpt);
    if (adapter) {
      const extra = await loadWeights(model.weights, { config: ckpt.config, weights: adapter.tensors, layout: 'hf' }, { base: false });
      report.notLoaded = extra.notLoaded;
      report.unused.push(...extra.unused);
    }
    opts.report?.(report);
    return model;
  } finally {
    ckpt.weights.close();
    adapter?.tensors.close();
  }
}
