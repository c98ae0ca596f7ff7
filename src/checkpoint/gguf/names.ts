/**
 * Tensor names in GGUF files (llama.cpp's) and in Hugging Face checkpoints, both ways:
 * `token_embd.weight` ↔ `model.embed_tokens.weight`, `output_norm.weight` ↔ `model.norm.weight`,
 * `output.weight` ↔ `lm_head.weight`, and per layer `blk.i.<part>` ↔ `model.layers.i.<part>`
 * by the table below.
 */

/** Per-layer parts: GGUF name → Hugging Face name (both without `blk.i.` / `model.layers.i.`). */
const LAYER_PARTS: Record<string, string> = {
  'attn_norm.weight': 'input_layernorm.weight',
  'ffn_norm.weight': 'post_attention_layernorm.weight',
  'attn_q.weight': 'self_attn.q_proj.weight',
  'attn_k.weight': 'self_attn.k_proj.weight',
  'attn_v.weight': 'self_attn.v_proj.weight',
  'attn_output.weight': 'self_attn.o_proj.weight',
  'attn_q.bias': 'self_attn.q_proj.bias',
  'attn_k.bias': 'self_attn.k_proj.bias',
  'attn_v.bias': 'self_attn.v_proj.bias',
  'attn_q_norm.weight': 'self_attn.q_norm.weight',
  'attn_k_norm.weight': 'self_attn.k_norm.weight',
  'ffn_gate.weight': 'mlp.gate_proj.weight',
  'ffn_up.weight': 'mlp.up_proj.weight',
  'ffn_down.weight': 'mlp.down_proj.weight',
};
const TOP: Record<string, string> = {
  'token_embd.weight': 'model.embed_tokens.weight',
  'output_norm.weight': 'model.norm.weight',
  'output.weight': 'lm_head.weight',
};

const invert = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).map(([k, v]) => [v, k]));
const HF_LAYER_PARTS = invert(LAYER_PARTS),
  HF_TOP = invert(TOP);

/** The Hugging Face name of a GGUF tensor name, or undefined when it is no Llama-family parameter. */
export function hfName(gguf: string): string | undefined {
  if (Object.hasOwn(TOP, gguf)) return TOP[gguf];
  const m = /^blk\.(\d+)\.(.+)$/.exec(gguf);
  return m && Object.hasOwn(LAYER_PARTS, m[2]) ? `model.layers.${m[1]}.${LAYER_PARTS[m[2]]}` : undefined;
}

/** The GGUF name of a Hugging Face tensor name, or undefined when GGUF has none for it. */
export function ggufName(hf: string): string | undefined {
  if (Object.hasOwn(HF_TOP, hf)) return HF_TOP[hf];
  const m = /^model\.layers\.(\d+)\.(.+)$/.exec(hf);
  return m && Object.hasOwn(HF_LAYER_PARTS, m[2]) ? `blk.${m[1]}.${HF_LAYER_PARTS[m[2]]}` : undefined;
}

/** Whether a Hugging Face name is a q or k projection (whose rows llama.cpp's llama architecture interleaves). */
export function isRopeProjection(hf: string): 'q' | 'k' | undefined {
  const m = /\.self_attn\.(q|k)_proj\.weight$/.exec(hf);
  return m ? (m[1] as 'q' | 'k') : undefined;
}
