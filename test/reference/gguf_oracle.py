"""GGUF oracle over llama.cpp's own gguf-py (its GGUFWriter, GGUFReader and numpy quantizers),
found through GGUF_PY (the gguf-py folder of the llama.cpp sources node-llama-cpp ships).

  write MODEL_DIR OUT.gguf TYPE [vocab]
                                    a Hugging Face folder (config.json, model.safetensors) as a GGUF
                                    file the way llama.cpp's converter lays it out: llama.cpp names,
                                    the llama architecture's q/k rows interleaved, matrices of TYPE
                                    (F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1; Q5_K and Q3_K, which
                                    gguf-py does not quantize: random blocks of small scales), vectors F32;
                                    `vocab` adds MODEL_DIR's tokenizer.model as llama.cpp's metadata
  quant TYPE IN.f32 OUT.bin         f32 values quantized by gguf-py (Q8_0, Q4_0)
  dequant TYPE IN.bin OUT.f32       blocks of TYPE as gguf-py dequantizes them
  blocks TYPE N SEED OUT.bin OUT.f32  N random blocks of TYPE (Q3_K, Q4_K, Q5_K, Q6_K, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1) and their
                                    values as gguf-py dequantizes them
"""
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.environ['GGUF_PY'])
import gguf  # noqa: E402
from gguf import quants  # noqa: E402

DTYPES = {'F32': np.float32, 'F16': np.float16, 'BF16': None}


def read_safetensors(path):
    """The tensors of a safetensors file as f32 arrays (BF16 widened by hand)."""
    with open(path, 'rb') as f:
        n = int.from_bytes(f.read(8), 'little')
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        b, e = t['data_offsets']
        raw = data[b:e]
        if t['dtype'] == 'BF16':
            a = (np.frombuffer(raw, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            a = np.frombuffer(raw, DTYPES[t['dtype']]).astype(np.float32)
        out[name] = a.reshape(t['shape'])
    return out


def interleave(w, heads):
    """llama.cpp's converter: rotate-half rows to interleaved RoPE pairs, per head."""
    rows, cols = w.shape
    return w.reshape(heads, 2, rows // heads // 2, cols).swapaxes(1, 2).reshape(rows, cols)


LAYER = {
    'input_layernorm.weight': 'attn_norm.weight', 'post_attention_layernorm.weight': 'ffn_norm.weight',
    'self_attn.q_proj.weight': 'attn_q.weight', 'self_attn.k_proj.weight': 'attn_k.weight',
    'self_attn.v_proj.weight': 'attn_v.weight', 'self_attn.o_proj.weight': 'attn_output.weight',
    'self_attn.q_proj.bias': 'attn_q.bias', 'self_attn.k_proj.bias': 'attn_k.bias', 'self_attn.v_proj.bias': 'attn_v.bias',
    'self_attn.q_norm.weight': 'attn_q_norm.weight', 'self_attn.k_norm.weight': 'attn_k_norm.weight',
    'mlp.gate_proj.weight': 'ffn_gate.weight', 'mlp.up_proj.weight': 'ffn_up.weight', 'mlp.down_proj.weight': 'ffn_down.weight',
}
TOP = {'model.embed_tokens.weight': 'token_embd.weight', 'model.norm.weight': 'output_norm.weight', 'lm_head.weight': 'output.weight'}


def llama3_factors(cfg, s):
    """Llama 3's per-frequency RoPE divisors, as llama.cpp's converter stores them."""
    dim = cfg.get('head_dim') or cfg['hidden_size'] // cfg['num_attention_heads']
    freqs = 1.0 / (cfg.get('rope_theta', 10000) ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
    old = s['original_max_position_embeddings']
    low_wavelen, high_wavelen = old / s['low_freq_factor'], old / s['high_freq_factor']
    out = []
    for f in freqs:
        wavelen = 2 * np.pi / f
        if wavelen < high_wavelen:
            out.append(1.0)
        elif wavelen > low_wavelen:
            out.append(s['factor'])
        else:
            smooth = (old / wavelen - s['low_freq_factor']) / (s['high_freq_factor'] - s['low_freq_factor'])
            out.append(1 / ((1 - smooth) / s['factor'] + smooth))
    return np.array(out, dtype=np.float32)


def gguf_name(name):
    if name in TOP:
        return TOP[name]
    parts = name.split('.', 3)
    return f'blk.{parts[2]}.{LAYER[parts[3]]}'


def add_vocab(w, model_dir):
    """MODEL_DIR's SentencePiece tokenizer.model as llama.cpp's `llama` vocabulary: pieces, scores, kinds."""
    import sentencepiece as spm
    sp = spm.SentencePieceProcessor(model_file=os.path.join(model_dir, 'tokenizer.model'))
    n = sp.get_piece_size()

    def kind(i):  # llama.cpp's token types: 1 normal, 2 unknown, 3 control, 5 unused, 6 byte
        return 2 if sp.is_unknown(i) else 3 if sp.is_control(i) else 5 if sp.is_unused(i) else 6 if sp.is_byte(i) else 1

    w.add_tokenizer_model('llama')
    w.add_token_list([sp.id_to_piece(i).encode('utf-8') for i in range(n)])
    w.add_token_scores([sp.get_score(i) for i in range(n)])
    w.add_token_types([kind(i) for i in range(n)])
    w.add_bos_token_id(sp.bos_id())
    w.add_eos_token_id(sp.eos_id())
    w.add_unk_token_id(sp.unk_id())


def write(model_dir, out, type_name, vocab=None):
    cfg = json.load(open(os.path.join(model_dir, 'config.json')))
    arch = cfg.get('model_type', 'llama')
    heads, kv = cfg['num_attention_heads'], cfg.get('num_key_value_heads', cfg['num_attention_heads'])
    w = gguf.GGUFWriter(out, arch)
    w.add_context_length(cfg.get('max_position_embeddings', 2048))
    w.add_embedding_length(cfg['hidden_size'])
    w.add_block_count(cfg['num_hidden_layers'])
    w.add_feed_forward_length(cfg['intermediate_size'])
    w.add_head_count(heads)
    w.add_head_count_kv(kv)
    w.add_layer_norm_rms_eps(cfg.get('rms_norm_eps', 1e-6))
    w.add_rope_freq_base(cfg.get('rope_theta', 10000))
    if cfg.get('head_dim'):
        w.add_key_length(cfg['head_dim'])
        w.add_value_length(cfg['head_dim'])
    w.add_vocab_size(cfg['vocab_size'])
    scaling = cfg.get('rope_scaling') or {}
    if scaling.get('rope_type', scaling.get('type')) == 'llama3':
        w.add_tensor('rope_freqs.weight', llama3_factors(cfg, scaling))
    if vocab == 'vocab':
        add_vocab(w, model_dir)
    qtype = getattr(gguf.GGMLQuantizationType, type_name)
    for name, a in read_safetensors(os.path.join(model_dir, 'model.safetensors')).items():
        if arch == 'llama' and name.endswith('q_proj.weight'):
            a = interleave(a, heads)
        if arch == 'llama' and name.endswith('k_proj.weight'):
            a = interleave(a, kv)
        if a.ndim == 1:
            w.add_tensor(gguf_name(name), a)
        elif type_name in ('Q5_K', 'Q3_K'):
            w.add_tensor(gguf_name(name), random_k(type_name, a.shape, len(name)), raw_dtype=qtype)
        else:
            w.add_tensor(gguf_name(name), quants.quantize(a, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


def random_k(type_name, shape, seed):
    """Random Q5_K or Q3_K blocks for a matrix of `shape`: Q5_K's d and dmin of about 2e-4 (values
    below 0.4), Q3_K's d of about 3e-3 (values of about 0.1)."""
    rows, cols = shape
    size = 176 if type_name == 'Q5_K' else 110
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (rows, cols // 256, size), dtype=np.uint8)
    if type_name == 'Q5_K':
        raw[..., 0:4] = np.abs(rng.normal(0, 2e-4, (rows, cols // 256, 2))).astype(np.float16).view(np.uint8)
    else:
        raw[..., 108:110] = np.abs(rng.normal(0, 3e-3, (rows, cols // 256, 1))).astype(np.float16).view(np.uint8)
    return raw.reshape(rows, -1)


def quant(type_name, src, out):
    qtype = getattr(gguf.GGMLQuantizationType, type_name)
    quants.quantize(np.fromfile(src, np.float32).reshape(1, -1), qtype).tofile(out)


def dequant(type_name, src, out):
    qtype = getattr(gguf.GGMLQuantizationType, type_name)
    quants.dequantize(np.fromfile(src, np.uint8).reshape(1, -1), qtype).astype(np.float32).tofile(out)


def blocks(type_name, n, seed, out_bin, out_f32):
    """Random blocks whose f16 scales are finite numbers of moderate size."""
    qtype = getattr(gguf.GGMLQuantizationType, type_name)
    block, size = gguf.GGML_QUANT_SIZES[qtype]
    rng = np.random.default_rng(seed)
    raw = rng.integers(0, 256, (n, size), dtype=np.uint8)
    scales = {'Q3_K': [108], 'Q4_K': [0, 2], 'Q5_K': [0, 2], 'Q6_K': [208], 'Q8_0': [0], 'Q4_0': [0], 'Q4_1': [0, 2], 'Q5_0': [0], 'Q5_1': [0, 2]}[type_name]
    for at in scales:
        raw[:, at:at + 2] = rng.normal(0, 0.05, (n, 1)).astype(np.float16).view(np.uint8)
    raw.tofile(out_bin)
    quants.dequantize(raw.reshape(1, -1), qtype).astype(np.float32).tofile(out_f32)


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    {'write': write, 'quant': quant, 'dequant': dequant, 'blocks': lambda t, n, s, b, f: blocks(t, int(n), int(s), b, f)}[cmd](*args)
