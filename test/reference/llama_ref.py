#!/usr/bin/env python3
"""An independent PyTorch reference for the Llama model with LoRA, written to Hugging Face
LlamaForCausalLM semantics (rotate-half RoPE with float32 angles, RMSNorm, SwiGLU, grouped-query
causal attention) and the PEFT LoRA forward, lora_B(lora_A(x))·alpha/rank. It computes in float64
so that its own rounding is negligible next to the f32 implementation under test.

The other families' differences follow the math of their Hugging Face modeling code: Llama 3's
rope_scaling (_compute_llama3_parameters), Qwen2's q/k/v projections with bias (model_type qwen2),
Qwen3's RMSNorm over each head of q and k before RoPE (q_norm, k_norm) and
its explicit head_dim; Mistral's sliding window does not arise, as sequences stay within it.

Usage (all files safetensors, f32 or int32):
  llama_ref.py step --config cfg.json --weights w.safetensors --batch b.safetensors --out o.safetensors
                    [--lora lora.json] [--mode finetune|train]
  llama_ref.py bench ...   (see --help)

`cfg.json` is a Hugging Face config; `lora.json` is {"rank", "alpha", "targets": ["q_proj", ...]};
the batch holds input_ids and labels [B, S+1] (int32). The output holds `logits` [B·S, V],
`loss` [1], and `grad.<name>` for every trainable tensor (LoRA A and B in finetune, every base
tensor in train).
"""
import argparse
import json
import math
import struct
import sys
import time

import torch

DTYPES = {'F32': torch.float32, 'F64': torch.float64, 'I32': torch.int32, 'I64': torch.int64, 'BF16': torch.bfloat16, 'F16': torch.float16}


def read_safetensors(path):
    """All tensors of a safetensors file by name."""
    with open(path, 'rb') as f:
        data = f.read()
    (n,) = struct.unpack('<Q', data[:8])
    header = json.loads(data[8:8 + n])
    out = {}
    for name, t in header.items():
        if name == '__metadata__':
            continue
        b, e = t['data_offsets']
        raw = bytearray(data[8 + n + b:8 + n + e])
        out[name] = torch.frombuffer(raw, dtype=DTYPES[t['dtype']]).reshape(t['shape']) if e > b else torch.zeros(t['shape'], dtype=DTYPES[t['dtype']])
    return out


def write_safetensors(path, tensors):
    """Writes f32 tensors."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        b = t.detach().to(torch.float32).contiguous().numpy().tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header).encode()
    h += b' ' * ((8 - (8 + len(h)) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)) + h + b''.join(blobs))


LINEARS = [('self_attn', 'q_proj'), ('self_attn', 'k_proj'), ('self_attn', 'v_proj'), ('self_attn', 'o_proj'),
           ('mlp', 'gate_proj'), ('mlp', 'up_proj'), ('mlp', 'down_proj')]


class Llama:
    """Parameters as a dict of leaf tensors; forward as plain functions."""

    def __init__(self, cfg, weights, lora, mode, dtype):
        self.cfg, self.lora, self.dtype = cfg, lora, dtype
        self.p = {k: v.to(dtype).clone().requires_grad_(mode == 'train' and 'lora_' not in k) for k, v in weights.items()}
        if cfg.get('tie_word_embeddings'):
            self.p['lm_head.weight'] = self.p['model.embed_tokens.weight']
        if lora:
            for k, v in self.p.items():
                if 'lora_' in k:
                    v.requires_grad_(mode == 'finetune')
        self.D = cfg['hidden_size']
        self.H = cfg['num_attention_heads']
        self.KVH = cfg.get('num_key_value_heads') or self.H
        self.hd = cfg.get('head_dim') or self.D // self.H
        self.eps = cfg.get('rms_norm_eps', 1e-6)
        self.theta = cfg.get('rope_theta', 10000.0)
        assert not cfg.get('attention_bias'), 'attention_bias (o_proj too) is not modelled here'
        self.qkv_bias = cfg.get('model_type') == 'qwen2'
        self.qk_norm = cfg.get('model_type') == 'qwen3'
        window = cfg.get('sliding_window') if cfg.get('model_type') == 'mistral' or cfg.get('use_sliding_window') else None
        self.window = window

    def trainable(self):
        seen, out = set(), {}
        for k, v in self.p.items():
            if v.requires_grad and id(v) not in seen:
                seen.add(id(v))
                out[k] = v
        return out

    def rmsnorm(self, x, w):
        return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))

    def linear(self, x, name, bias=False):
        y = x @ self.p[name + '.weight'].T
        if bias:
            y = y + self.p[name + '.bias']
        a = self.p.get(name + '.lora_A.weight')
        if a is not None:
            y = y + (x @ a.T) @ self.p[name + '.lora_B.weight'].T * (self.lora['alpha'] / self.lora['rank'])
        return y

    def inv_freq(self):
        # As Hugging Face computes them: float32 inverse frequencies, rescaled for rope_type llama3.
        inv_freq = 1.0 / (self.theta ** (torch.arange(0, self.hd, 2, dtype=torch.int64).float() / self.hd))
        scaling = self.cfg.get('rope_scaling')
        if not scaling:
            return inv_freq
        assert (scaling.get('rope_type') or scaling.get('type')) == 'llama3', scaling
        factor, low, high = scaling['factor'], scaling['low_freq_factor'], scaling['high_freq_factor']
        old_len = scaling['original_max_position_embeddings']
        low_wavelen, high_wavelen = old_len / low, old_len / high
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
        smooth = (old_len / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled)

    def rope(self, S, offset=0):
        # float32 angles, then cos and sin
        inv_freq = self.inv_freq()
        pos = torch.arange(offset, offset + S, dtype=torch.float32)
        freqs = pos[:, None] * inv_freq[None, :]
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(self.dtype), emb.sin().to(self.dtype)

    @staticmethod
    def rotate_half(x):
        h = x.shape[-1] // 2
        return torch.cat((-x[..., h:], x[..., :h]), dim=-1)

    def forward(self, ids):
        B, S = ids.shape
        x = self.p['model.embed_tokens.weight'][ids.long()]
        cos, sin = self.rope(S)
        assert self.window is None or S <= self.window, 'sequence longer than the sliding window'
        mask = torch.full((S, S), float('-inf'), dtype=self.dtype).triu(1)
        for l in range(self.cfg['num_hidden_layers']):
            pre = f'model.layers.{l}.'
            h = self.rmsnorm(x, self.p[pre + 'input_layernorm.weight'])
            q = self.linear(h, pre + 'self_attn.q_proj', self.qkv_bias).view(B, S, self.H, self.hd)
            k = self.linear(h, pre + 'self_attn.k_proj', self.qkv_bias).view(B, S, self.KVH, self.hd)
            v = self.linear(h, pre + 'self_attn.v_proj', self.qkv_bias).view(B, S, self.KVH, self.hd).transpose(1, 2)
            if self.qk_norm:
                q = self.rmsnorm(q, self.p[pre + 'self_attn.q_norm.weight'])
                k = self.rmsnorm(k, self.p[pre + 'self_attn.k_norm.weight'])
            q, k = q.transpose(1, 2), k.transpose(1, 2)
            q = q * cos + self.rotate_half(q) * sin
            k = k * cos + self.rotate_half(k) * sin
            rep = self.H // self.KVH
            k = k.repeat_interleave(rep, dim=1)
            v = v.repeat_interleave(rep, dim=1)
            att = torch.softmax(q @ k.transpose(-1, -2) / self.hd ** 0.5 + mask, dim=-1) @ v
            x = x + self.linear(att.transpose(1, 2).reshape(B, S, self.H * self.hd), pre + 'self_attn.o_proj')
            h = self.rmsnorm(x, self.p[pre + 'post_attention_layernorm.weight'])
            g = self.linear(h, pre + 'mlp.gate_proj')
            u = self.linear(h, pre + 'mlp.up_proj')
            x = x + self.linear(torch.nn.functional.silu(g) * u, pre + 'mlp.down_proj')
        x = self.rmsnorm(x, self.p['model.norm.weight'])
        return x @ self.p['lm_head.weight'].T


def pad_of(cfg):
    """The pad id of a config.json: transformers' default is none (-1, no input is skipped)."""
    pad = cfg.get('pad_token_id')
    return -1 if pad is None else pad


def masked_loss(logits, ids, labels, pad):
    """SPEC.md §5: tokens = ids[:, :-1], targets = labels[:, 1:], mask = (tokens != pad) & (targets != -100)."""
    tokens, targets = ids[:, :-1], labels[:, 1:].long()
    mask = ((tokens != pad) & (targets != -100)).to(logits.dtype)
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.clamp(min=0).reshape(-1), reduction='none')
    return (ce * mask.reshape(-1)).sum() / (mask.sum() + 1e-8)


def random_weights(cfg, lora, seed=0):
    """Normal(0, 0.02) base weights (norms 1) and LoRA A, B for a config, f32."""
    g = torch.Generator().manual_seed(seed)
    D, F, V = cfg['hidden_size'], cfg['intermediate_size'], cfg['vocab_size']
    H, KVH = cfg['num_attention_heads'], cfg.get('num_key_value_heads') or cfg['num_attention_heads']
    hd = D // H
    shapes = {'q_proj': (H * hd, D), 'k_proj': (KVH * hd, D), 'v_proj': (KVH * hd, D), 'o_proj': (D, H * hd),
              'gate_proj': (F, D), 'up_proj': (F, D), 'down_proj': (D, F)}
    w = {'model.embed_tokens.weight': torch.randn(V, D, generator=g) * 0.02, 'model.norm.weight': torch.ones(D)}
    if not cfg.get('tie_word_embeddings'):
        w['lm_head.weight'] = torch.randn(V, D, generator=g) * 0.02
    for l in range(cfg['num_hidden_layers']):
        pre = f'model.layers.{l}.'
        w[pre + 'input_layernorm.weight'] = torch.ones(D)
        w[pre + 'post_attention_layernorm.weight'] = torch.ones(D)
        for module, name in LINEARS:
            out, inp = shapes[name]
            w[f'{pre}{module}.{name}.weight'] = torch.randn(out, inp, generator=g) * 0.02
            if lora and name in lora['targets']:
                w[f'{pre}{module}.{name}.lora_A.weight'] = (torch.rand(lora['rank'], inp, generator=g) * 2 - 1) / inp ** 0.5
                w[f'{pre}{module}.{name}.lora_B.weight'] = torch.zeros(out, lora['rank'])
    return w


def load(args, dtype):
    cfg = json.load(open(args.config))
    lora = json.load(open(args.lora)) if args.lora else None
    weights = read_safetensors(args.weights) if args.weights else random_weights(cfg, lora)
    return Llama(cfg, weights, lora, args.mode, dtype), cfg


def cmd_step(args):
    model, cfg = load(args, torch.float64)
    batch = read_safetensors(args.batch)
    ids, labels = batch['input_ids'], batch['labels']
    logits = model.forward(ids[:, :-1])
    loss = masked_loss(logits, ids, labels, pad_of(cfg))
    loss.backward()
    out = {'logits': logits.reshape(-1, logits.shape[-1]), 'loss': loss.reshape(1)}
    for name, t in model.trainable().items():
        out['grad.' + name] = t.grad if t.grad is not None else torch.zeros_like(t)
    write_safetensors(args.out, out)


def cmd_optstep(args):
    """One optimizer step: loss and gradients, clipping by global norm, then torch.optim.AdamW."""
    model, cfg = load(args, torch.float64)
    batch = read_safetensors(args.batch)
    ids, labels = batch['input_ids'], batch['labels']
    loss = masked_loss(model.forward(ids[:, :-1]), ids, labels, pad_of(cfg))
    loss.backward()
    params = model.trainable()
    out = {'loss': loss.reshape(1)}
    for name, t in params.items():
        out['grad.' + name] = t.grad.clone()
    norm = torch.nn.utils.clip_grad_norm_(list(params.values()), args.max_norm)
    out['global_norm'] = norm.reshape(1)
    opt = torch.optim.AdamW(list(params.values()), lr=args.lr, betas=(args.beta1, args.beta2), eps=args.eps, weight_decay=args.weight_decay)
    opt.step()
    for name, t in params.items():
        out['param.' + name] = t.detach()
    write_safetensors(args.out, out)


def cosine_with_warmup(step, lr, lr_end, warmup, total):
    """SPEC.md §5: lr·step/warmup during warm-up, then lr_end + (lr − lr_end)·0.5·(1 + cos(π·progress))."""
    import math
    if step < warmup:
        return lr * step / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return lr_end + (lr - lr_end) * 0.5 * (1 + math.cos(math.pi * progress))


def cmd_schedule(args):
    warmup = int(args.total * args.warmup_ratio)
    print(json.dumps([cosine_with_warmup(s, args.lr, args.lr_end, warmup, args.total) for s in range(args.total)]))


def cmd_bench(args):
    """Times LoRA training steps (forward, backward, AdamW on LoRA) and greedy decoding in f32 on --threads threads (1)."""
    torch.set_num_threads(args.threads)
    model, cfg = load(args, torch.float32)
    B, S, V = args.batch_size, args.seq, cfg['vocab_size']
    g = torch.Generator().manual_seed(0)
    if args.batches:
        # real batches: input_ids and labels [steps·B, S+1], one optimizer step per B rows
        data = read_safetensors(args.batches)
        batches = [(data['input_ids'][i:i + B], data['labels'][i:i + B]) for i in range(0, data['input_ids'].shape[0], B)]
        S = batches[0][0].shape[1] - 1
    else:
        ids = torch.randint(3, V, (B, S + 1), generator=g, dtype=torch.int32)
        batches = [(ids, ids)]
    opt = torch.optim.AdamW(list(model.trainable().values()), lr=1e-4) if args.mode == 'finetune' else None
    result = {'blas': blas_name(), 'threads': torch.get_num_threads()}

    def train_step(k):
        ids, labels = batches[k % len(batches)]
        loss = masked_loss(model.forward(ids[:, :-1]), ids, labels, 0)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(model.trainable().values()), 1.0)
        opt.step()
        opt.zero_grad()

    if opt is not None and args.steps > 0:
        train_step(0)
        t0 = time.perf_counter()
        for k in range(args.steps):
            train_step(k + 1)
        result['train_tokens_per_s'] = B * S * args.steps / (time.perf_counter() - t0)
    if args.decode > 0:
        result['decode_tokens_per_s'] = decode_rate(model, args.decode)
    print(json.dumps(result))


def decode_rate(model, n):
    """Tokens/s of greedy decoding with a KV cache (batch 1), after a 1-token prompt."""
    cfg = model.cfg
    L, KVH, hd = cfg['num_hidden_layers'], model.KVH, model.hd
    cache_k = [torch.zeros(1, KVH, n + 1, hd) for _ in range(L)]
    cache_v = [torch.zeros(1, KVH, n + 1, hd) for _ in range(L)]
    cos_all, sin_all = model.rope(n + 1)
    p = model.p
    tok = 1
    with torch.no_grad():
        t0 = time.perf_counter()
        for pos in range(n):
            x = p['model.embed_tokens.weight'][tok].view(1, 1, -1)
            cos, sin = cos_all[pos:pos + 1], sin_all[pos:pos + 1]
            for l in range(L):
                pre = f'model.layers.{l}.'
                h = model.rmsnorm(x, p[pre + 'input_layernorm.weight'])
                q = model.linear(h, pre + 'self_attn.q_proj').view(1, 1, model.H, hd).transpose(1, 2)
                k = model.linear(h, pre + 'self_attn.k_proj').view(1, 1, KVH, hd).transpose(1, 2)
                v = model.linear(h, pre + 'self_attn.v_proj').view(1, 1, KVH, hd).transpose(1, 2)
                q = q * cos + model.rotate_half(q) * sin
                k = k * cos + model.rotate_half(k) * sin
                cache_k[l][:, :, pos] = k[:, :, 0]
                cache_v[l][:, :, pos] = v[:, :, 0]
                rep = model.H // KVH
                kk = cache_k[l][:, :, :pos + 1].repeat_interleave(rep, dim=1)
                vv = cache_v[l][:, :, :pos + 1].repeat_interleave(rep, dim=1)
                att = torch.softmax(q @ kk.transpose(-1, -2) / hd ** 0.5, dim=-1) @ vv
                x = x + model.linear(att.transpose(1, 2).reshape(1, 1, -1), pre + 'self_attn.o_proj')
                h = model.rmsnorm(x, p[pre + 'post_attention_layernorm.weight'])
                x = x + model.linear(torch.nn.functional.silu(model.linear(h, pre + 'mlp.gate_proj')) * model.linear(h, pre + 'mlp.up_proj'), pre + 'mlp.down_proj')
            logits = model.rmsnorm(x, p['model.norm.weight']) @ p['lm_head.weight'].T
            tok = int(logits[0, -1].argmax())
        return n / (time.perf_counter() - t0)


def blas_name():
    """The BLAS library loaded into this process (from /proc/self/maps), and its f32 GEMM speed."""
    libs = set()
    with open('/proc/self/maps') as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ''
            if 'blas' in path or 'lapack' in path:
                libs.add(path)
    a, b = torch.randn(512, 1024), torch.randn(1024, 512)
    a @ b
    t0 = time.perf_counter()
    for _ in range(10):
        a @ b
    gflops = 10 * 2 * 512 * 1024 * 512 / (time.perf_counter() - t0) / 1e9
    return {'libraries': sorted(libs), 'gemm_gflops': round(gflops, 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest='cmd', required=True)
    for name in ('step', 'bench'):
        s = sub.add_parser(name)
        s.add_argument('--config', required=True)
        s.add_argument('--weights', required=(name == 'step'), help='random weights when omitted (bench)')
        s.add_argument('--lora')
        s.add_argument('--mode', choices=['finetune', 'train'], default='finetune')
        if name == 'step':
            s.add_argument('--batch', required=True)
            s.add_argument('--out', required=True)
        else:
            s.add_argument('--batch-size', type=int, default=1)
            s.add_argument('--seq', type=int, default=256)
            s.add_argument('--steps', type=int, default=3)
            s.add_argument('--decode', type=int, default=0)
            s.add_argument('--batches', help='real batches (safetensors input_ids, labels) instead of random ids')
            s.add_argument('--threads', type=int, default=1)
    o = sub.add_parser('optstep')
    for flag in ('--config', '--weights', '--batch', '--out'):
        o.add_argument(flag, required=True)
    o.add_argument('--lora')
    o.add_argument('--mode', choices=['finetune', 'train'], default='finetune')
    for flag, default in (('--lr', 1e-3), ('--beta1', 0.9), ('--beta2', 0.999), ('--eps', 1e-8), ('--weight-decay', 0.0), ('--max-norm', 1.0)):
        o.add_argument(flag, type=float, default=default)
    c = sub.add_parser('schedule')
    for flag, default in (('--lr', 1e-3), ('--lr-end', 0.0), ('--warmup-ratio', 0.03)):
        c.add_argument(flag, type=float, default=default)
    c.add_argument('--total', type=int, default=100)
    args = ap.parse_args()
    {'step': cmd_step, 'bench': cmd_bench, 'optstep': cmd_optstep, 'schedule': cmd_schedule}[args.cmd](args)


if __name__ == '__main__':
    sys.exit(main())
