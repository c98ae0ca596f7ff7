/**
 * What each value of the run configuration may be. A key's kind comes from its default value
 * (defaults.ts) unless a rule below says otherwise; rules add integers, ranges and enums.
 * Paths are dotted; list positions are written `*` here (`callbacks.*.prefix`).
 */
import { WEIGHT_DTYPE_NAMES } from '../model/weight_dtype.ts';

/** The run modes of run_mindformer. */
export const RUN_MODES = ['train', 'finetune', 'eval', 'predict'] as const;

/** The optimizers the trainer implements. */
export const OPTIMIZERS = ['FP32StateAdamWeightDecay', 'AdamWeightDecay', 'AdamW'] as const;

/** The learning-rate schedules the trainer implements. */
export const LR_SCHEDULES = ['CosineWithWarmUpLR', 'LinearWithWarmUpLR', 'ConstantWarmUpLR'] as const;

/** Value kinds beyond the one a default value implies. */
type Kind = 'boolean' | 'string' | 'number' | 'strings' | 'boolean|string' | 'string|strings' | 'number|numbers';

/** A value's constraints. */
interface Rule {
  kind?: Kind;
  int?: boolean;
  /** null is allowed too */
  nullable?: boolean;
  min?: number;
  max?: number;
  /** strictly greater than */
  above?: number;
  /** strictly less than */
  below?: number;
  oneOf?: readonly (string | boolean)[];
  /** a list whose items must be among these */
  each?: readonly string[];
  /** added to a wrong-kind error */
  hint?: string;
  /** a file name prefix (no folder separators, so that its files stay in their folder); the text says where they stay */
  fileNamePrefix?: string;
}

/** Mapping-valued keys whose content is accepted as is (MindFormers settings we do not act on). */
export const OPAQUE = new Set([
  'trainer',
  'train_dataset_task',
  'eval_dataset_task',
  'parallel',
  'context',
  'moe_config',
  'metric',
  'eval_callbacks',
  // a number, or Llama 3's block {factor, low_freq_factor, high_freq_factor, original_max_position_embeddings} (extend_method LLAMA3)
  'model.model_config.scaling_factor',
]);

/** The one block a config may leave out: without it the model has no LoRA. */
export const OPTIONAL_BLOCK = 'model.model_config.pet_config';

const int = (min?: number, extra: Rule = {}): Rule => ({ int: true, min, ...extra });
const positive: Rule = { above: 0 };
const probability: Rule = { min: 0, below: 1 };
const datasetRules = (name: string): Record<string, Rule> => ({
  [`${name}.input_columns`]: { each: ['input_ids', 'labels'] },
  [`${name}.batch_size`]: int(1),
  [`${name}.repeat`]: int(1),
  [`${name}.num_parallel_workers`]: int(1),
  [`${name}.prefetch_size`]: int(1),
});
const MC = 'model.model_config';

const RULES: Record<string, Rule> = {
  seed: int(0),
  run_mode: { oneOf: RUN_MODES },
  resume_training: { kind: 'boolean|string' },
  device_target: { oneOf: ['auto', 'relaxed', 'simd'] },
  stream_layers: { oneOf: ['auto', 'on', 'off'] },
  threads: int(0),
  activations: { oneOf: ['int8', 'f32'] },
  'runner_config.epochs': int(1),
  'runner_config.batch_size': int(1),
  'runner_config.sink_size': int(1),
  'runner_config.gradient_accumulation_steps': int(1),
  'optimizer.type': { oneOf: OPTIMIZERS },
  'optimizer.beta1': probability,
  'optimizer.beta2': probability,
  'optimizer.eps': positive,
  'optimizer.weight_decay': { min: 0 },
  'optimizer.learning_rate': { min: 0 },
  'lr_schedule.type': { oneOf: LR_SCHEDULES },
  'lr_schedule.learning_rate': { min: 0 },
  'lr_schedule.lr_end': { min: 0 },
  'lr_schedule.warmup_ratio': probability,
  'lr_schedule.warmup_steps': int(0),
  'lr_schedule.total_steps': int(-1),
  ...datasetRules('train_dataset'),
  ...datasetRules('eval_dataset'),
  'parallel_config.data_parallel': int(1),
  'parallel_config.model_parallel': int(1),
  'parallel_config.pipeline_stage': int(1),
  'parallel_config.micro_batch_num': int(1),
  'parallel_config.gradient_aggregation_group': int(1),
  'runner_wrapper.scale_sense': {
    above: 0,
    hint: 'training runs in float32 and needs no loss-scale cell: write a number such as 1.0',
  },
  'runner_wrapper.max_grad_norm': positive,
  'callbacks.*.per_print_times': int(1),
  'callbacks.*.save_checkpoint_steps': int(1),
  'callbacks.*.keep_checkpoint_max': int(1),
  'callbacks.*.checkpoint_format': { oneOf: ['safetensors', 'ckpt'] },
  'callbacks.*.prefix': { fileNamePrefix: 'checkpoints stay in output_dir/checkpoint/rank_<r>' },
  [`${MC}.batch_size`]: int(1),
  [`${MC}.seq_length`]: int(1),
  [`${MC}.hidden_size`]: int(1),
  [`${MC}.num_layers`]: int(1),
  [`${MC}.num_heads`]: int(1),
  [`${MC}.n_kv_heads`]: int(1, { kind: 'number', nullable: true }),
  [`${MC}.max_position_embedding`]: int(1, { kind: 'number', nullable: true }),
  [`${MC}.intermediate_size`]: int(1, { kind: 'number', nullable: true }),
  [`${MC}.vocab_size`]: int(1),
  [`${MC}.multiple_of`]: int(1),
  [`${MC}.ffn_dim_multiplier`]: { kind: 'number', nullable: true, above: 0 },
  [`${MC}.rms_norm_eps`]: positive,
  [`${MC}.bos_token_id`]: int(0),
  [`${MC}.eos_token_id`]: int(0),
  [`${MC}.pad_token_id`]: int(0),
  [`${MC}.ignore_token_id`]: int(),
  [`${MC}.theta`]: positive,
  [`${MC}.model_type`]: { oneOf: ['llama', 'mistral', 'qwen2', 'qwen3'] },
  [`${MC}.head_dim`]: int(2, { kind: 'number', nullable: true }),
  [`${MC}.sliding_window`]: int(1, { kind: 'number', nullable: true }),
  [`${MC}.param_init_type`]: { oneOf: WEIGHT_DTYPE_NAMES },
  [`${MC}.offset`]: int(0, { kind: 'number|numbers' }),
  [`${MC}.block_size`]: int(1),
  [`${MC}.num_blocks`]: int(1),
  [`${MC}.repetition_penalty`]: positive,
  [`${MC}.max_decode_length`]: int(1),
  [`${MC}.top_k`]: int(0),
  [`${MC}.top_p`]: { above: 0, max: 1 },
  [`${MC}.temperature`]: positive,
  [`${MC}.pet_config.pet_type`]: { oneOf: ['lora'] },
  [`${MC}.pet_config.lora_rank`]: int(1),
  [`${MC}.pet_config.lora_alpha`]: positive,
  [`${MC}.pet_config.lora_dropout`]: probability,
  [`${MC}.pet_config.target_modules`]: { kind: 'string|strings' },
  predict_batch_size: int(1),
  num_samples: int(0),
};

/** The rule of a path (list positions become `*`), or an empty rule. */
function ruleAt(path: string): Rule {
  return RULES[path.replace(/\.\d+(?=\.|$)/g, '.*')] ?? {};
}

/** The kind a default value implies, overridden by the path's rule. */
function kindAt(path: string, defaultValue: unknown): Kind {
  const rule = ruleAt(path);
  if (rule.kind) return rule.kind;
  if (Array.isArray(defaultValue)) return 'strings';
  return typeof defaultValue as 'boolean' | 'string' | 'number';
}

const KIND_NAMES: Record<Kind, string> = {
  boolean: 'True or False',
  string: 'a string',
  number: 'a number',
  strings: 'a list of strings',
  'boolean|string': 'True, False or a checkpoint name',
  'string|strings': 'a regex or a list of names',
  'number|numbers': 'an integer or a list of integers',
};

/** A value for messages: strings in single quotes, NaN and infinities as YAML writes them, others as JSON (shortened). */
export function show(v: unknown): string {
  if (typeof v === 'string') return `'${v}'`;
  if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? '.nan' : v > 0 ? '.inf' : '-.inf';
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

function isKind(v: unknown, kind: Kind, int: boolean): boolean {
  const num = (x: unknown) => typeof x === 'number' && Number.isFinite(x) && (!int || Number.isInteger(x));
  const strs = (x: unknown) => Array.isArray(x) && x.every((s) => typeof s === 'string');
  switch (kind) {
    case 'boolean':
      return typeof v === 'boolean';
    case 'string':
      return typeof v === 'string';
    case 'number':
      return num(v);
    case 'strings':
      return strs(v);
    case 'boolean|string':
      return typeof v === 'boolean' || typeof v === 'string';
    case 'string|strings':
      return typeof v === 'string' || strs(v);
    case 'number|numbers':
      return num(v) || (Array.isArray(v) && v.every(num));
  }
}

/** What a problem with a value is: its kind, its range or its enum. */
export type Problem =
  | { type: 'kind'; expected: string; hint?: string }
  | { type: 'range'; text: string }
  | { type: 'enum'; value: unknown; options: readonly (string | boolean)[] };

/** Checks one value against its path's kind and rule; undefined when it is fine. */
export function checkValue(path: string, value: unknown, defaultValue: unknown): Problem | undefined {
  const rule = ruleAt(path);
  if (value === null && rule.nullable) return undefined;
  const kind = kindAt(path, defaultValue);
  if (!isKind(value, kind, rule.int === true)) {
    const expected = kind === 'number' ? (rule.int ? 'an integer' : 'a number') : KIND_NAMES[kind];
    return { type: 'kind', expected, hint: rule.hint };
  }
  if (rule.oneOf && !rule.oneOf.includes(value as string | boolean))
    return { type: 'enum', value, options: rule.oneOf };
  if (rule.fileNamePrefix !== undefined && /[/\\]/.test(value as string)) {
    return {
      type: 'range',
      text: `must be a file name prefix, without '/' or '\\' (${rule.fileNamePrefix}), got ${show(value)}`,
    };
  }
  if (rule.each) {
    const bad = (value as string[]).find((x) => !rule.each!.includes(x));
    if (bad !== undefined) return { type: 'enum', value: bad, options: rule.each };
  }
  const nums =
    typeof value === 'number'
      ? [value]
      : Array.isArray(value) && typeof value[0] === 'number'
        ? (value as number[])
        : [];
  for (const n of nums) {
    const bad =
      (rule.min !== undefined && n < rule.min) ||
      (rule.max !== undefined && n > rule.max) ||
      (rule.above !== undefined && n <= rule.above) ||
      (rule.below !== undefined && n >= rule.below);
    if (bad) return { type: 'range', text: `must be ${rangeText(rule)}, got ${n}` };
  }
  return undefined;
}

function rangeText(r: Rule): string {
  const parts: string[] = [];
  if (r.min !== undefined) parts.push(`at least ${r.min}`);
  if (r.above !== undefined) parts.push(`more than ${r.above}`);
  if (r.max !== undefined) parts.push(`at most ${r.max}`);
  if (r.below !== undefined) parts.push(`less than ${r.below}`);
  return parts.join(' and ');
}
