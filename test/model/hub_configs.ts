/** Real config.json values of each family's small models, shared by the config and family tests. */

/** The config.json of each family's small model, as published on the Hugging Face hub (the keys that matter). */
export const HUB_CONFIGS: Record<string, Record<string, unknown>> = {
  'Llama-3.2-1B': { model_type: 'llama', hidden_size: 2048, intermediate_size: 8192, num_hidden_layers: 16, num_attention_heads: 32, num_key_value_heads: 8, head_dim: 64,
    vocab_size: 128256, rms_norm_eps: 1e-5, rope_theta: 500000, tie_word_embeddings: true, max_position_embeddings: 131072, bos_token_id: 128000, eos_token_id: 128001,
    attention_bias: false, mlp_bias: false, hidden_act: 'silu',
    rope_scaling: { factor: 32, high_freq_factor: 4, low_freq_factor: 1, original_max_position_embeddings: 8192, rope_type: 'llama3' } },
  'Qwen2.5-0.5B': { model_type: 'qwen2', hidden_size: 896, intermediate_size: 4864, num_hidden_layers: 24, num_attention_heads: 14, num_key_value_heads: 2,
    vocab_size: 151936, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, max_position_embeddings: 32768, bos_token_id: 151643, eos_token_id: 151643,
    max_window_layers: 24, sliding_window: 32768, use_sliding_window: false, hidden_act: 'silu' },
  'Qwen3-0.6B': { model_type: 'qwen3', hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16, num_key_value_heads: 8, head_dim: 128,
    vocab_size: 151936, rms_norm_eps: 1e-6, rope_theta: 1000000, tie_word_embeddings: true, max_position_embeddings: 40960, bos_token_id: 151643, eos_token_id: 151645,
    attention_bias: false, rope_scaling: null, sliding_window: null, use_sliding_window: false, hidden_act: 'silu' },
  'Mistral-7B-v0.1': { model_type: 'mistral', hidden_size: 4096, intermediate_size: 14336, num_hidden_layers: 32, num_attention_heads: 32, num_key_value_heads: 8,
    vocab_size: 32000, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, max_position_embeddings: 32768, bos_token_id: 1, eos_token_id: 2,
    sliding_window: 4096, hidden_act: 'silu' },
  'SmolLM2-135M': { model_type: 'llama', hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9, num_key_value_heads: 3,
    vocab_size: 49152, rms_norm_eps: 1e-5, rope_theta: 100000, tie_word_embeddings: true, max_position_embeddings: 8192, bos_token_id: 0, eos_token_id: 0, hidden_act: 'silu' },
  'TinyLlama-1.1B': { model_type: 'llama', hidden_size: 2048, intermediate_size: 5632, num_hidden_layers: 22, num_attention_heads: 32, num_key_value_heads: 4,
    vocab_size: 32000, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, max_position_embeddings: 2048, bos_token_id: 1, eos_token_id: 2, hidden_act: 'silu' },
};
