/**
 * The default run configuration: the seed's `configs/llama2/lora_llama2_7b.yaml` (SPEC.md §5),
 * every key a config file may set. A config file is merged over it; a key it lacks is unknown.
 */
import type { CallbackConfig, DatasetConfig, RunConfig } from './types.ts';

/** Every callback type with MindFormers' class defaults, which a `callbacks:` entry is merged over. */
export const CALLBACK_DEFAULTS: Record<CallbackConfig['type'], CallbackConfig> = {
  MFLossMonitor: { type: 'MFLossMonitor', per_print_times: 1 },
  CheckpointMonitor: {
    type: 'CheckpointMonitor', prefix: 'CKP', save_checkpoint_steps: 1, keep_checkpoint_max: 5,
    integrated_save: true, async_save: false, checkpoint_format: 'safetensors',
  },
  ObsMonitor: { type: 'ObsMonitor' },
};

function dataset(columns: string[], shuffle: boolean, dropRemainder: boolean, batchSize: number): DatasetConfig {
  return {
    data_loader: { type: 'MindDataset', dataset_dir: '', shuffle },
    input_columns: columns,
    num_parallel_workers: 8,
    python_multiprocessing: false,
    drop_remainder: dropRemainder,
    batch_size: batchSize,
    repeat: 1,
    numa_enable: false,
    prefetch_size: 1,
  };
}

/** A fresh copy of the default configuration (callers may change it). */
export function defaultRunConfig(): RunConfig {
  const train = dataset(['input_ids', 'labels'], true, true, 4);
  const evalSet = dataset(['input_ids'], false, false, 1);
  return {
    seed: 0,
    output_dir: './output',
    load_checkpoint: '',
    src_strategy_path_or_dir: '',
    auto_trans_ckpt: false,
    only_save_strategy: false,
    resume_training: false,
    run_mode: 'finetune',
    device_target: 'auto',
    stream_layers: 'auto',
    trainer: { type: 'CausalLanguageModelingTrainer', model_name: 'llama2_7b_lora' },
    runner_config: { epochs: 2, batch_size: 2, sink_mode: true, sink_size: 1, gradient_accumulation_steps: 1 },
    optimizer: { type: 'FP32StateAdamWeightDecay', beta1: 0.9, beta2: 0.999, eps: 1e-8, weight_decay: 0, learning_rate: 1e-5 },
    lr_schedule: { type: 'CosineWithWarmUpLR', learning_rate: 1e-5, lr_end: 0, warmup_ratio: 0.03, warmup_steps: 0, total_steps: -1 },
    train_dataset: train,
    train_dataset_task: { type: 'CausalLanguageModelDataset', dataset_config: structuredClone(train) },
    do_eval: false,
    eval_dataset: evalSet,
    eval_dataset_task: { type: 'CausalLanguageModelDataset', dataset_config: structuredClone(evalSet) },
    use_parallel: true,
    parallel: {
      parallel_mode: 1, gradients_mean: false, enable_alltoall: false, full_batch: true,
      search_mode: 'sharding_propagation', enable_parallel_optimizer: true,
      strategy_ckpt_config: { save_file: './ckpt_strategy.ckpt', only_trainable_params: false },
      parallel_optimizer_config: { gradient_accumulation_shard: false, parallel_optimizer_threshold: 64 },
    },
    parallel_config: {
      data_parallel: 8, model_parallel: 1, pipeline_stage: 1, use_seq_parallel: false,
      micro_batch_num: 1, vocab_emb_dp: true, gradient_aggregation_group: 4,
    },
    micro_batch_interleave_num: 1,
    recompute_config: {
      recompute: false, select_recompute: false, parallel_optimizer_comm_recompute: false,
      mp_comm_recompute: true, recompute_slice_activation: true,
    },
    callbacks: [
      { type: 'MFLossMonitor', per_print_times: 1 },
      {
        type: 'CheckpointMonitor', prefix: 'llama_7b_lora', save_checkpoint_steps: 100, keep_checkpoint_max: 5,
        integrated_save: false, async_save: false, checkpoint_format: 'safetensors',
      },
      { type: 'ObsMonitor' },
    ],
    context: {
      mode: 0, device_target: 'Ascend', max_call_depth: 10000, max_device_memory: '59GB',
      save_graphs: false, save_graphs_path: './graph', device_id: 0,
    },
    moe_config: {},
    model: {
      model_config: {
        type: 'LlamaConfig',
        batch_size: 1,
        seq_length: 4096,
        hidden_size: 4096,
        num_layers: 32,
        num_heads: 32,
        n_kv_heads: null,
        max_position_embedding: 4096,
        intermediate_size: null,
        vocab_size: 32000,
        multiple_of: 256,
        ffn_dim_multiplier: null,
        rms_norm_eps: 1e-5,
        bos_token_id: 1,
        eos_token_id: 2,
        pad_token_id: 0,
        ignore_token_id: -100,
        theta: 10000,
        tie_word_embeddings: false,
        compute_dtype: 'bfloat16',
        layernorm_compute_type: 'float32',
        softmax_compute_type: 'float32',
        rotary_dtype: 'float16',
        param_init_type: 'float32',
        initializer_range: 0.02,
        use_past: false,
        scaling_factor: 1.0,
        extend_method: 'None',
        use_flash_attention: true,
        block_size: 16,
        num_blocks: 512,
        is_dynamic: false,
        qkv_concat: false,
        offset: 0,
        checkpoint_name_or_path: '',
        repetition_penalty: 1,
        max_decode_length: 512,
        top_k: 3,
        top_p: 1,
        do_sample: false,
        temperature: 1,
        pet_config: { pet_type: 'lora', lora_rank: 16, lora_alpha: 16, lora_dropout: 0.05, target_modules: '.*wq|.*wk|.*wv|.*wo' },
      },
      arch: { type: 'LlamaForCausalLM' },
    },
    processor: {
      return_tensors: 'ms',
      tokenizer: { unk_token: '<unk>', bos_token: '<s>', eos_token: '</s>', pad_token: '<unk>', type: 'LlamaTokenizer', vocab_file: '' },
      type: 'LlamaProcessor',
    },
    metric: { type: 'PerplexityMetric' },
    runner_wrapper: { type: 'MFTrainOneStepCell', scale_sense: 1.0, use_clip_grad: true, max_grad_norm: 1.0 },
    eval_callbacks: [{ type: 'ObsMonitor' }],
    auto_tune: false,
    filepath_prefix: './autotune',
    autotune_per_step: 10,
    profile: false,
    profile_start_step: 1,
    profile_stop_step: 10,
    init_start_profile: false,
    profile_communication: false,
    profile_memory: true,
    layer_scale: false,
    layer_decay: 0.65,
    lr_scale_factor: 256,
    remote_save_url: 'Please input obs url on AICC platform.',
    predict_data: [],
    predict_batch_size: 1,
    chat: false,
    num_samples: 0,
  };
}
