/**
 * Hugging Face PEFT LoRA adapters as bytes (SPEC.md §9), with no file system: `adapter_config.json`
 * and `adapter_model.safetensors`, whose tensors are named
 * `base_model.model.model.layers.<i>.self_attn.q_proj.lora_A.weight` [r, in] and `lora_B` [out, r].
 * Reading takes the rank, alpha (rsLoRA's alpha/√r scale included), dropout and targets from the
 * adapter itself and refuses what this model cannot apply (DoRA, biases, extra trained modules,
 * per-module ranks); writing gives what PEFT's `PeftModel.from_pretrained` reads. peft.ts reads
 * and writes them as folders.
 */
import { LINEARS, loraTargets, type LoraConfig } from '../model/lora.ts';
import type { LlamaWeights } from '../model/weights.ts';
import { loraFactorTensors } from './model_tensors.ts';
import { parseName } from './names.ts';
import { safetensorsBytes } from './safetensors_bytes.ts';
import { SafetensorsFile } from './safetensors_file.ts';
import { MemorySource } from './source.ts';
import { ViewStore, type DerivedTensor, type TensorStore } from './store.ts';

/** The prefix PEFT puts before the model's own parameter names. */
export const PEFT_PREFIX = 'base_model.model.';
/** The names of an adapter's two files. */
export const ADAPTER_CONFIG = 'adapter_config.json',
  ADAPTER_WEIGHTS = 'adapter_model.safetensors';

/** An adapter's two files as bytes (fetched, read, or made by finetune's `toFiles`). */
export interface AdapterFiles {
  /** adapter_config.json, as bytes or parsed */
  config: Uint8Array | object;
  /** adapter_model.safetensors */
  weights: Uint8Array;
}

/** An opened adapter: its LoRA settings and its factors under the model's Hugging Face names. */
export interface Adapter {
  lora: LoraConfig;
  /** lora_A / lora_B tensors by Hugging Face name (no PEFT prefix) */
  tensors: TensorStore;
  /** what names the adapter in messages: its folder, or "adapter" */
  where: string;
  /** what names its adapter_model.safetensors in messages */
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

/** adapter_config.json's bytes as an object; errors name `where`. */
export function parseAdapterConfig(text: string, where: string): Record<string, unknown> {
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch (err) {
    throw new Error(`${where}: not valid JSON (${(err as Error).message})`);
  }
  if (cfg === null || typeof cfg !== 'object') throw new Error(`${where}: not a JSON object`);
  return cfg as Record<string, unknown>;
}

/** The LoRA settings of a parsed adapter_config.json (`cfgWhere` names it); errors name the key. */
function loraSettings(cfg: Record<string, unknown>, cfgWhere: string): Omit<LoraConfig, 'targetModules'> {
  if (cfg.peft_type !== 'LORA') throw new Error(`${cfgWhere}: peft_type ${JSON.stringify(cfg.peft_type)} is not LORA`);
  const r = cfg.r,
    alpha = cfg.lora_alpha ?? 8,
    dropout = cfg.lora_dropout ?? 0;
  if (!(Number.isInteger(r) && (r as number) > 0))
    throw new Error(`${cfgWhere}: r must be a positive integer, got ${JSON.stringify(r)}`);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha))
    throw new Error(`${cfgWhere}: lora_alpha must be a number, got ${JSON.stringify(alpha)}`);
  if (typeof dropout !== 'number')
    throw new Error(`${cfgWhere}: lora_dropout must be a number, got ${JSON.stringify(dropout)}`);
  if (cfg.use_dora === true) throw new Error(`${cfgWhere}: use_dora (DoRA) is not supported`);
  if (cfg.fan_in_fan_out === true) throw new Error(`${cfgWhere}: fan_in_fan_out is not supported`);
  if ((cfg.bias ?? 'none') !== 'none')
    throw new Error(`${cfgWhere}: bias ${JSON.stringify(cfg.bias)} is not supported (only none)`);
  for (const key of ['modules_to_save', 'rank_pattern', 'alpha_pattern'])
    if (!isEmpty(cfg[key])) throw new Error(`${cfgWhere}: ${key} is not supported`);
  const rank = r as number;
  // The model scales by alpha/rank; rsLoRA scales by lora_alpha/√r.
  return { rank, alpha: cfg.use_rslora === true ? (alpha * rank) / Math.sqrt(rank) : alpha, dropout };
}

/**
 * An adapter of a parsed adapter_config.json (`cfgWhere` names it) and its
 * adapter_model.safetensors, opened by `open` once the config is found good; the adapter owns the
 * file (closed with its tensors; closed here on an error). Errors name the file and the key or tensor.
 */
export function adapterOf(
  cfg: Record<string, unknown>,
  cfgWhere: string,
  open: () => SafetensorsFile,
  where: string,
): Adapter {
  const { rank, alpha, dropout } = loraSettings(cfg, cfgWhere);
  const file = open();
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
      alpha,
      dropout,
      targetModules: LINEARS.map((l) => l.hf).filter((h) => kinds.has(h)),
    };
    return { lora, tensors: new ViewStore(where, derived, [file], file.metadata), where, file: file.where, layers };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Opens an adapter given as bytes; errors name adapter_config.json or adapter_model.safetensors and the key or tensor. */
export function adapterFromBytes(files: AdapterFiles): Adapter {
  const cfg =
    files.config instanceof Uint8Array
      ? parseAdapterConfig(new TextDecoder().decode(files.config), ADAPTER_CONFIG)
      : files.config;
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg))
    throw new Error(`${ADAPTER_CONFIG}: not a JSON object`);
  const open = () => SafetensorsFile.from(new MemorySource(ADAPTER_WEIGHTS, files.weights));
  return adapterOf(cfg as Record<string, unknown>, ADAPTER_CONFIG, open, 'adapter');
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

/** adapter_config.json's text as written for `lora` and its base (`baseModel`, as it is to be stored). */
export function adapterConfigText(lora: LoraConfig, baseModel: string | null): string {
  return JSON.stringify(adapterConfig(lora, baseModel), null, 2) + '\n';
}

/**
 * A model's LoRA factors and settings as the bytes of a PEFT adapter's two files, the same bytes
 * peft.ts's saveAdapter writes to a folder; `baseModel` is stored as base_model_name_or_path.
 */
export function adapterFiles(
  weights: LlamaWeights,
  baseModel: string | null,
): { config: Uint8Array; weights: Uint8Array } {
  const lora = weights.options.lora;
  if (!lora || weights.options.mode !== 'finetune') throw new Error('the model has no LoRA adapters to write');
  const tensors = loraFactorTensors(weights).map((t) => ({
    name: PEFT_PREFIX + t.name,
    info: t.info,
    bytes: t.bytes(),
  }));
  return {
    config: new TextEncoder().encode(adapterConfigText(lora, baseModel)),
    weights: safetensorsBytes(tensors, {}, ADAPTER_WEIGHTS),
  };
}
