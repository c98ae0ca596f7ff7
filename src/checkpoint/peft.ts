/**
 * Hugging Face PEFT LoRA adapters (SPEC.md §9): a folder with `adapter_config.json` and
 * `adapter_model.safetensors`, whose tensors are named
 * `base_model.model.model.layers.<i>.self_attn.q_proj.lora_A.weight` [r, in] and `lora_B` [out, r].
 * Export writes what PEFT's `PeftModel.from_pretrained` reads; import takes the rank, alpha
 * (rsLoRA's alpha/√r scale included), dropout and targets from the adapter itself, and refuses
 * what this model cannot apply (DoRA, biases, extra trained modules, per-module ranks).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { makeFolders, writeAtomically } from '../io/atomic.ts';
import { LINEARS, loraTargets, type LoraConfig } from '../model/lora.ts';
import type { LlamaWeights } from '../model/weights.ts';
import { modelTensors } from './model_tensors.ts';
import { parseName } from './names.ts';
import { SafetensorsFile } from './safetensors.ts';
import { ViewStore, type DerivedTensor, type TensorStore } from './store.ts';
import type { OutputTensor } from './write.ts';
import { writeFile } from './write.ts';

/** The prefix PEFT puts before the model's own parameter names. */
export const PEFT_PREFIX = 'base_model.model.';
const CONFIG = 'adapter_config.json',
  WEIGHTS = 'adapter_model.safetensors';

/** An opened adapter: its LoRA settings and its factors under the model's Hugging Face names. */
export interface Adapter {
  lora: LoraConfig;
  /** lora_A / lora_B tensors by Hugging Face name (no PEFT prefix) */
  tensors: TensorStore;
  /** its adapter_model.safetensors */
  file: string;
  /** how many layers its factors reach: one more than the highest layer index */
  layers: number;
}

/** Throws, naming the adapter's file, when its factors reach past the `nLayers` layers of a base (they would be dropped). */
export function checkAdapterLayers(adapter: Adapter, nLayers: number): void {
  if (adapter.layers > nLayers)
    throw new Error(`${adapter.file}: LoRA factors for ${adapter.layers} layers, the base model has ${nLayers}`);
}

function isEmpty(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    (Array.isArray(v) && v.length === 0) ||
    (typeof v === 'object' && Object.keys(v as object).length === 0)
  );
}

/** An adapter folder's adapter_config.json as an object; errors name the file. */
function readAdapterConfig(cfgPath: string): Record<string, unknown> {
  if (!existsSync(cfgPath))
    throw new Error(`${cfgPath}: missing (a PEFT adapter folder holds ${CONFIG} and ${WEIGHTS})`);
  let cfg: Record<string, unknown>;
  try {
    cfg = JSON.parse(readFileSync(cfgPath, 'utf8'));
  } catch (err) {
    throw new Error(`${cfgPath}: not valid JSON (${(err as Error).message})`);
  }
  if (cfg === null || typeof cfg !== 'object') throw new Error(`${cfgPath}: not a JSON object`);
  return cfg;
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
  const cfgPath = join(dir, CONFIG),
    cfg = readAdapterConfig(cfgPath);
  if (cfg.peft_type !== 'LORA') throw new Error(`${cfgPath}: peft_type ${JSON.stringify(cfg.peft_type)} is not LORA`);
  const r = cfg.r,
    alpha = cfg.lora_alpha ?? 8,
    dropout = cfg.lora_dropout ?? 0;
  if (!(Number.isInteger(r) && (r as number) > 0))
    throw new Error(`${cfgPath}: r must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw new Error(`${cfgPath}: lora_alpha must be a number, got ${JSON.stringify(alpha)}`);
  if (typeof dropout !== 'number')
    throw new Error(`${cfgPath}: lora_dropout must be a number, got ${JSON.stringify(dropout)}`);
  if (cfg.use_dora === true) throw new Error(`${cfgPath}: use_dora (DoRA) is not supported`);
  if (cfg.fan_in_fan_out === true) throw new Error(`${cfgPath}: fan_in_fan_out is not supported`);
  if ((cfg.bias ?? 'none') !== 'none')
    throw new Error(`${cfgPath}: bias ${JSON.stringify(cfg.bias)} is not supported (only none)`);
  for (const key of ['modules_to_save', 'rank_pattern', 'alpha_pattern'])
    if (!isEmpty(cfg[key])) throw new Error(`${cfgPath}: ${key} is not supported`);
  const rank = r as number;
  // The model scales by alpha/rank; rsLoRA scales by lora_alpha/√r.
  const effectiveAlpha = cfg.use_rslora === true ? (alpha * rank) / Math.sqrt(rank) : alpha;

  const file = SafetensorsFile.open(join(dir, WEIGHTS));
  try {
    const derived = new Map<string, DerivedTensor>();
    const kinds = new Set<string>();
    let layers = 0;
    for (const [name, info] of file.tensors) {
      const inner = name.startsWith(PEFT_PREFIX) ? name.slice(PEFT_PREFIX.length) : '';
      const key = inner ? parseName(inner, 'hf') : undefined;
      if (!key || !key.lora || key.prefix)
        throw new Error(`${file.where}: tensor ${name} is not a LoRA factor of a Llama linear layer`);
      const want = key.lora === 'A' ? 0 : 1;
      if (info.shape.length !== 2 || info.shape[want] !== rank)
        throw new Error(
          `${file.where}: tensor ${name} has shape [${info.shape}], rank ${rank} expected in dimension ${want}`,
        );
      kinds.add(LINEARS.find((l) => l.kind === key.kind)!.hf);
      layers = Math.max(layers, key.layer! + 1);
      derived.set(inner, { info, parts: [{ store: file, name }], make: ([b]) => b });
    }
    if (!kinds.size) throw new Error(`${file.where}: no LoRA tensors`);
    const lora: LoraConfig = {
      rank,
      alpha: effectiveAlpha,
      dropout,
      targetModules: LINEARS.map((l) => l.hf).filter((h) => kinds.has(h)),
    };
    return { lora, tensors: new ViewStore(dir, derived, [file], file.metadata), file: file.where, layers };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** The adapter_config.json PEFT writes for a LoRA config (targets as Hugging Face module names). */
export function adapterConfig(lora: LoraConfig, baseModel: string | null = null): Record<string, unknown> {
  const targets = new Set(loraTargets(lora));
  return {
    alpha_pattern: {},
    auto_mapping: null,
    base_model_name_or_path: baseModel,
    bias: 'none',
    fan_in_fan_out: false,
    inference_mode: true,
    init_lora_weights: true,
    layers_pattern: null,
    layers_to_transform: null,
    lora_alpha: lora.alpha,
    lora_dropout: lora.dropout,
    modules_to_save: null,
    peft_type: 'LORA',
    r: lora.rank,
    rank_pattern: {},
    revision: null,
    target_modules: LINEARS.filter((l) => targets.has(l.kind)).map((l) => l.hf),
    task_type: 'CAUSAL_LM',
    use_dora: false,
    use_rslora: false,
  };
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
      writeFileSync(join(tmp, CONFIG), JSON.stringify(adapterConfig(lora, base), null, 2) + '\n');
      await writeFile(join(tmp, WEIGHTS), 'safetensors', tensors);
    },
    { folder: true },
  );
}
