/**
 * The run configuration: a MindFormers-layout YAML (configs/llama2/*.yaml) after defaults, the
 * file and command-line overrides are merged and validated. Keys keep MindFormers' names.
 */
import type { ScheduleConfig } from '../train/schedule.ts';
import type { PetConfig } from '../model/lora.ts';
import type { Activations } from '../model/options.ts';

/** What run_mindformer does. */
export type RunMode = 'train' | 'finetune' | 'eval' | 'predict';

/** `callbacks:` entries (MindFormers' list of {type, ...}). */
export type CallbackConfig =
  | { type: 'MFLossMonitor'; per_print_times: number }
  | {
      type: 'CheckpointMonitor';
      prefix: string;
      save_checkpoint_steps: number;
      keep_checkpoint_max: number;
      integrated_save: boolean;
      async_save: boolean;
      /** MindFormers' key; ours defaults to 'safetensors' (MindFormers: 'ckpt') */
      checkpoint_format: 'safetensors' | 'ckpt';
    }
  | { type: 'ObsMonitor' };

/** A dataset block (`train_dataset`, `eval_dataset`). */
export interface DatasetConfig {
  data_loader: { type: string; dataset_dir: string; shuffle: boolean };
  input_columns: string[];
  drop_remainder: boolean;
  batch_size: number;
  repeat: number;
  num_parallel_workers: number;
  /** accepted from MindFormers' files, not acted on */
  python_multiprocessing: boolean;
  numa_enable: boolean;
  prefetch_size: number;
}

/**
 * Keys of MindFormers' files that are accepted and kept but not acted on (docs/commands.md, "Configs").
 * The mapping-valued ones are opaque: any content is accepted.
 */
export interface IgnoredKeys {
  only_save_strategy: boolean;
  trainer: Record<string, unknown>;
  train_dataset_task: Record<string, unknown>;
  do_eval: boolean;
  eval_dataset_task: Record<string, unknown>;
  parallel: Record<string, unknown>;
  micro_batch_interleave_num: number;
  context: Record<string, unknown>;
  moe_config: Record<string, unknown>;
  metric: Record<string, unknown>;
  eval_callbacks: unknown[];
  auto_tune: boolean;
  filepath_prefix: string;
  autotune_per_step: number;
  profile_start_step: number;
  profile_stop_step: number;
  init_start_profile: boolean;
  profile_communication: boolean;
  profile_memory: boolean;
  layer_scale: boolean;
  layer_decay: number;
  lr_scale_factor: number;
  remote_save_url: string;
}

/** The merged, validated configuration. */
export interface RunConfig extends IgnoredKeys {
  seed: number;
  output_dir: string;
  run_mode: RunMode;
  /** a file or folder, or '' for none */
  load_checkpoint: string;
  src_strategy_path_or_dir: string;
  auto_trans_ckpt: boolean;
  /** false, true (the latest checkpoint in output_dir), or a checkpoint file name */
  resume_training: boolean | string;
  use_parallel: boolean;
  /** ours: the core build ('auto' | 'relaxed' | 'simd') */
  device_target: string;
  /** ours: keep the blocks' frozen weights outside the WebAssembly memory and stream each layer in ('auto': when they would not fit) */
  stream_layers: string;
  /** ours: threads that run each rank's kernels (0: the machine's cores shared out among the ranks) */
  threads: number;
  /** ours: what generation feeds block-quantized weights (q8_0, q4_0, q5_0, q4_1, q5_1, q4_k, q5_k, q6_k), 'int8' (llama.cpp's integer products) or 'f32' (exact); the schema checks it */
  activations: Activations;
  runner_config: {
    epochs: number;
    batch_size: number;
    sink_mode: boolean;
    sink_size: number;
    gradient_accumulation_steps: number;
  };
  /** learning_rate is accepted and ignored: lr_schedule gives the rate, as in MindFormers */
  optimizer: { type: string; beta1: number; beta2: number; eps: number; weight_decay: number; learning_rate: number };
  lr_schedule: ScheduleConfig;
  train_dataset: DatasetConfig;
  eval_dataset: DatasetConfig;
  parallel_config: {
    data_parallel: number;
    model_parallel: number;
    pipeline_stage: number;
    micro_batch_num: number;
    vocab_emb_dp: boolean;
    gradient_aggregation_group: number;
    use_seq_parallel: boolean;
  };
  recompute_config: {
    recompute: boolean;
    select_recompute: boolean;
    parallel_optimizer_comm_recompute: boolean;
    mp_comm_recompute: boolean;
    recompute_slice_activation: boolean;
  };
  runner_wrapper: { type: string; scale_sense: number; use_clip_grad: boolean; max_grad_norm: number };
  callbacks: CallbackConfig[];
  model: {
    model_config: Record<string, unknown> & {
      seq_length: number;
      hidden_size: number;
      num_layers: number;
      num_heads: number;
      vocab_size: number;
      /** storage of frozen base weights: 'float32', 'bfloat16', 'int8', a block type ('q8_0' … 'q6_k') or 'stored' (model/weight_dtype.ts; MindFormers' compute_dtype is accepted and ignored) */
      param_init_type: string;
      /** ours: standard deviation of random base weights when no checkpoint is loaded (Hugging Face's initializer_range) */
      initializer_range: number;
      do_sample: boolean;
      top_k: number;
      top_p: number;
      repetition_penalty: number;
      max_decode_length: number;
      temperature: number;
      pet_config?: PetConfig;
    };
    arch: { type: string };
  };
  processor: {
    tokenizer: {
      type: string;
      vocab_file: string;
      unk_token: string;
      bos_token: string;
      eos_token: string;
      pad_token: string;
    };
    return_tensors: string;
    type: string;
  };
  /** predict: prompts from --predict_data */
  predict_data: string[];
  predict_batch_size: number;
  /** ours: predict renders each prompt as a user message through the tokenizer's chat template */
  chat: boolean;
  /** eval/predict: records to use (0 = all) */
  num_samples: number;
  profile: boolean;
}
