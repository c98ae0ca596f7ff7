/**
 * LoRA fine-tuning from the library, in browsers too: the trainer of run_mindformer
 * (train/trainer.ts: seeded order, accumulation, clipping, AdamW, the schedule) over records in
 * memory or any TrainRecords, without checkpoints, returning the adapter as the bytes of a PEFT
 * adapter's files. src/api/finetune_node.ts adds shard folders and saving to a folder.
 */
import { adapterFiles } from '../checkpoint/peft_adapter.ts';
import { defaultRunConfig } from '../config/defaults.ts';
import type { RunConfig } from '../config/types.ts';
import type { LoraConfig } from '../model/lora.ts';
import type { ReportPoint } from '../train/report.ts';
import type { TrainRecords } from '../train/records.ts';
import { train } from '../train/trainer.ts';
import type { Llama } from './llama.ts';
import { recordsInMemory, type FinetuneRecord } from './records.ts';

/** The training settings (MindFormers' names in brackets). */
export interface FinetuneConfig {
  /** passes over the data (runner_config.epochs; default 1) */
  epochs?: number;
  /** rows per micro-batch (batch_size; default 2) */
  batchSize?: number;
  /** micro-batches per optimizer step (gradient_accumulation_steps; default 1) */
  gradientAccumulation?: number;
  /** peak learning rate (lr_schedule.learning_rate; default 1e-4) */
  learningRate?: number;
  /** 'cosine' (default), 'linear' or 'constant' after the warm-up */
  schedule?: 'cosine' | 'linear' | 'constant';
  /** share of the steps spent warming up (lr_schedule.warmup_ratio; default 0) */
  warmupRatio?: number;
  /** AdamW's weight decay (optimizer.weight_decay; default 0) */
  weightDecay?: number;
  /** clip the global gradient norm to this (runner_wrapper.max_grad_norm; default 1; 0 never clips) */
  maxGradNorm?: number;
  /** positions per instruction record (default the smaller of 256 and the model's) */
  seqLength?: number;
  /** shuffle the records each epoch (default true) */
  shuffle?: boolean;
  /** seed of the record order (default 0) */
  seed?: number;
}

/** What to fine-tune on what. */
export interface FinetuneOptions {
  /** a model made with `loraConfig` (its LoRA factors are what trains) */
  model: Llama;
  /** records in memory, or rows read by index (TrainRecords: in Node, an opened ShardDataset) */
  dataset: readonly FinetuneRecord[] | TrainRecords;
  config?: FinetuneConfig;
  /** called after every optimizer step */
  onStep?: (point: ReportPoint) => void;
  /** stops training at the end of a step: finetune rejects with the signal's reason */
  signal?: AbortSignal;
  /** receives the loss monitor's line of each step (default: nothing is printed) */
  log?: (line: string) => void;
}

/** The LoRA factors a fine-tune trained (they live in the model, which now uses them). */
export interface TrainedAdapter {
  lora: LoraConfig;
  /** the loss of every optimizer step */
  losses: number[];
  /**
   * The adapter's two PEFT files as bytes, as the LoRA factors stand now: adapter_config.json
   * (base_model_name_or_path: the path the base was read from, or null for bytes) and
   * adapter_model.safetensors. `Llama.fromPretrained(files, { adapter: adapter.toFiles() })`
   * loads them onto the same base.
   */
  toFiles(): { config: Uint8Array; weights: Uint8Array };
}

const SCHEDULES = { cosine: 'CosineWithWarmUpLR', linear: 'LinearWithWarmUpLR', constant: 'ConstantWarmUpLR' } as const;

/** The run configuration the trainer takes for `config`, with no checkpoints. */
function runConfigOf(config: FinetuneConfig, maxSeqLen: number): RunConfig {
  const c = defaultRunConfig();
  c.seed = config.seed ?? 0;
  c.runner_config = {
    ...c.runner_config,
    epochs: config.epochs ?? 1,
    batch_size: config.batchSize ?? 2,
    gradient_accumulation_steps: config.gradientAccumulation ?? 1,
  };
  const lr = config.learningRate ?? 1e-4,
    schedule = config.schedule ?? 'cosine';
  if (!Object.hasOwn(SCHEDULES, schedule))
    throw new Error(`config.schedule ${JSON.stringify(schedule)}: expected cosine, linear or constant`);
  c.lr_schedule = {
    ...c.lr_schedule,
    type: SCHEDULES[schedule],
    learning_rate: lr,
    warmup_ratio: config.warmupRatio ?? 0,
    warmup_steps: 0,
  };
  c.optimizer = { ...c.optimizer, learning_rate: lr, weight_decay: config.weightDecay ?? 0 };
  const clip = config.maxGradNorm ?? 1;
  c.runner_wrapper = { ...c.runner_wrapper, use_clip_grad: clip > 0, max_grad_norm: clip };
  c.train_dataset.data_loader.shuffle = config.shuffle ?? true;
  c.model.model_config.seq_length = maxSeqLen;
  c.callbacks = [];
  return c;
}

/** The LoRA settings of a model made to be fine-tuned; throws when it has none. */
export function finetunedLora(llama: Llama): LoraConfig {
  const options = llama.model.options;
  if (!options.lora || options.mode !== 'finetune')
    throw new Error(
      'finetune: the model has no LoRA adapters; make it with Llama.fromPretrained(path, { loraConfig })',
    );
  return options.lora;
}

/**
 * Fine-tunes the model's LoRA factors on `dataset` and returns the adapter.
 * @example
 * const llama = await Llama.fromPretrained(files, { loraConfig: { rank: 8, alpha: 16, dropout: 0, targetModules: ['wq', 'wv'] } });
 * const records = [{ instruction: 'Name a colour.', output: 'Blue.' }, { instruction: 'Name a fruit.', output: 'A pear.' }];
 * const adapter = await finetune({ model: llama, dataset: records, config: { epochs: 3, learningRate: 1e-3 }, onStep: (p) => console.log(p.step, p.loss) });
 * const tuned = await Llama.fromPretrained(files, { adapter: adapter.toFiles() });
 */
export async function finetune(options: FinetuneOptions): Promise<TrainedAdapter> {
  const llama = options.model,
    model = llama.model,
    lora = finetunedLora(llama);
  const config = options.config ?? {};
  const maxS = model.config.maxSeqLen;
  const seqLength = config.seqLength ?? Math.min(256, maxS);
  if (!Number.isInteger(seqLength) || seqLength < 1 || seqLength > maxS)
    throw new Error(`config.seqLength ${seqLength}: expected a whole number from 1 to the model's ${maxS}`);
  const dataset = options.dataset;
  if (!isRecordList(dataset) && typeof dataset?.record !== 'function')
    throw new Error('finetune: dataset must be an array of records, or TrainRecords (length, index, record(i))');
  const data: TrainRecords = isRecordList(dataset) ? recordsInMemory(dataset, llama.tokenizer, seqLength) : dataset;
  const result = await train({
    config: runConfigOf(config, maxS),
    model,
    data,
    log: options.log ?? (() => {}),
    onStep: options.onStep,
    signal: options.signal,
  });
  const base = llama.source === 'bytes' ? null : llama.source;
  return { lora, losses: result.losses, toFiles: () => adapterFiles(model.weights, base) };
}

function isRecordList(d: readonly FinetuneRecord[] | TrainRecords): d is readonly FinetuneRecord[] {
  return Array.isArray(d);
}
