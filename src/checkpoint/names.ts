/**
 * Parameter names in the three layouts users bring (SPEC.md §9), and the mapping between them.
 * Inside wasmformers every tensor goes by its Hugging Face name.
 *
 * | tensor | Hugging Face | MindFormers | Meta |
 * |---|---|---|---|
 * | embedding | model.embed_tokens.weight | model.tok_embeddings.embedding_weight | tok_embeddings.weight |
 * | linear | model.layers.i.self_attn.q_proj.weight | model.layers.i.attention.wq.weight | layers.i.attention.wq.weight |
 * | norms | ...input_layernorm / post_attention_layernorm | ...attention_norm / ffn_norm | the same |
 * | final norm | model.norm.weight | model.norm_out.weight | norm.weight |
 * | head | lm_head.weight | lm_head.weight | output.weight |
 * | LoRA | ...q_proj.lora_A.weight / lora_B.weight | ...wq.mindpet_delta_lora_a / _lora_b | — |
 * | q/k/v bias (Qwen2) | ...self_attn.q_proj.bias | ...attention.wq.bias | — |
 *
 * Qwen3's head norms (`self_attn.q_norm.weight`, `k_norm`) keep their Hugging Face names in
 * every layout: MindFormers' Qwen3 is a Megatron-core model whose names this table does not map.
 * Hugging Face and MindFormers names may carry a prefix (MindFormers' optimizer state:
 * `adam_m.`, `adam_v.`), which is kept. Meta's checkpoints order the rows of wq and wk in
 * interleaved RoPE pairs; the other two layouts use rotate-half, hence `permuteRopeRows`.
 */
import { LINEARS, type LinearKind } from '../model/lora.ts';

/** The q, k and v biases. */
export type QkvBias = 'bq' | 'bk' | 'bv';

/** A naming scheme. */
export type Layout = 'hf' | 'mindformers' | 'meta';

/** What a parameter name refers to, independent of layout. */
export interface ParamKey {
  /** kept as is in every layout (e.g. `adam_m.`) */
  prefix: string;
  part: 'embed' | 'norm' | 'head' | 'layer';
  layer?: number;
  /** a linear, a norm, or the bias of wq, wk or wv */
  kind?: LinearKind | 'attnNorm' | 'ffnNorm' | QkvBias;
  /** a LoRA factor of the linear `kind` */
  lora?: 'A' | 'B';
}

const KINDS = '(wq|wk|wv|wo|w1|w2|w3)';
const HF_LINEAR = new RegExp(
  `^(.*?)model\\.layers\\.(\\d+)\\.(self_attn|mlp)\\.(${LINEARS.map((l) => l.hf).join('|')})\\.(weight|lora_A\\.weight|lora_B\\.weight)$`,
);
const HF_NORM = /^(.*?)model\.layers\.(\d+)\.(input_layernorm|post_attention_layernorm)\.weight$/;
const MF_LINEAR = new RegExp(
  `^(.*?)model\\.layers\\.(\\d+)\\.(attention|feed_forward)\\.${KINDS}\\.(weight|mindpet_delta_lora_a|mindpet_delta_lora_b)$`,
);
const MF_NORM = /^(.*?)model\.layers\.(\d+)\.(attention_norm|ffn_norm)\.weight$/;
const HF_BIAS = /^(.*?)model\.layers\.(\d+)\.self_attn\.(q|k|v)_proj\.bias$/;
const MF_BIAS = /^(.*?)model\.layers\.(\d+)\.attention\.w(q|k|v)\.bias$/;
const META_LINEAR = new RegExp(`^layers\\.(\\d+)\\.(attention|feed_forward)\\.${KINDS}\\.weight$`);
const META_NORM = /^layers\.(\d+)\.(attention_norm|ffn_norm)\.weight$/;

const HF_TOP: Record<string, ParamKey['part']> = {
  'model.embed_tokens.weight': 'embed',
  'model.norm.weight': 'norm',
  'lm_head.weight': 'head',
};
const MF_TOP: Record<string, ParamKey['part']> = {
  'model.tok_embeddings.embedding_weight': 'embed',
  'model.norm_out.weight': 'norm',
  'lm_head.weight': 'head',
};
const META_TOP: Record<string, ParamKey['part']> = {
  'tok_embeddings.weight': 'embed',
  'norm.weight': 'norm',
  'output.weight': 'head',
};

function top(name: string, table: Record<string, ParamKey['part']>, prefixed: boolean): ParamKey | undefined {
  for (const [full, part] of Object.entries(table)) {
    if (name === full || (prefixed && name.endsWith(`.${full}`)))
      return { prefix: name.slice(0, name.length - full.length), part };
  }
  return undefined;
}

/** What `name` refers to in `layout`, or undefined when it is not a model parameter there. */
export function parseName(name: string, layout: Layout): ParamKey | undefined {
  let m: RegExpMatchArray | null;
  if (layout === 'hf') {
    if ((m = name.match(HF_LINEAR))) {
      const l = LINEARS.find((x) => x.hf === m![4])!;
      if (l.hfModule !== m[3]) return undefined;
      return {
        prefix: m[1],
        part: 'layer',
        layer: Number(m[2]),
        kind: l.kind,
        lora: m[5] === 'weight' ? undefined : (m[5][5] as 'A' | 'B'),
      };
    }
    if ((m = name.match(HF_NORM)))
      return {
        prefix: m[1],
        part: 'layer',
        layer: Number(m[2]),
        kind: m[3] === 'input_layernorm' ? 'attnNorm' : 'ffnNorm',
      };
    if ((m = name.match(HF_BIAS)))
      return { prefix: m[1], part: 'layer', layer: Number(m[2]), kind: `b${m[3]}` as QkvBias };
    return top(name, HF_TOP, true);
  }
  if (layout === 'mindformers') {
    if ((m = name.match(MF_LINEAR))) {
      const l = LINEARS.find((x) => x.kind === m![4])!;
      if (l.mfModule !== m[3]) return undefined;
      return {
        prefix: m[1],
        part: 'layer',
        layer: Number(m[2]),
        kind: l.kind,
        lora: m[5] === 'weight' ? undefined : m[5].endsWith('_a') ? 'A' : 'B',
      };
    }
    if ((m = name.match(MF_NORM)))
      return {
        prefix: m[1],
        part: 'layer',
        layer: Number(m[2]),
        kind: m[3] === 'attention_norm' ? 'attnNorm' : 'ffnNorm',
      };
    if ((m = name.match(MF_BIAS)))
      return { prefix: m[1], part: 'layer', layer: Number(m[2]), kind: `b${m[3]}` as QkvBias };
    return top(name, MF_TOP, true);
  }
  if ((m = name.match(META_LINEAR))) {
    const l = LINEARS.find((x) => x.kind === m![3])!;
    return l.mfModule === m[2] ? { prefix: '', part: 'layer', layer: Number(m[1]), kind: l.kind } : undefined;
  }
  if ((m = name.match(META_NORM)))
    return { prefix: '', part: 'layer', layer: Number(m[1]), kind: m[2] === 'attention_norm' ? 'attnNorm' : 'ffnNorm' };
  return top(name, META_TOP, false);
}

/** The name of `key` in `layout`; `what` names the source in errors (Meta has no LoRA names). */
export function formatName(key: ParamKey, layout: Layout, what = 'name'): string {
  const { prefix, part, layer, kind, lora } = key;
  if (layout === 'meta' && (prefix || lora))
    throw new Error(`${what}: Meta's layout has no name for ${prefix}${lora ? ` LoRA ${lora}` : ''}`);
  if (layout === 'meta' && isQkvBias(kind)) throw new Error(`${what}: Meta's layout has no q/k/v biases`);
  if (part !== 'layer') {
    const table = layout === 'hf' ? HF_TOP : layout === 'mindformers' ? MF_TOP : META_TOP;
    return prefix + Object.keys(table).find((k) => table[k] === part)!;
  }
  const base = layout === 'meta' ? `layers.${layer}` : `${prefix}model.layers.${layer}`;
  if (kind === 'attnNorm' || kind === 'ffnNorm') {
    if (layout === 'hf')
      return `${base}.${kind === 'attnNorm' ? 'input_layernorm' : 'post_attention_layernorm'}.weight`;
    return `${base}.${kind === 'attnNorm' ? 'attention_norm' : 'ffn_norm'}.weight`;
  }
  if (isQkvBias(kind))
    return layout === 'hf' ? `${base}.self_attn.${kind[1]}_proj.bias` : `${base}.attention.w${kind[1]}.bias`;
  const l = LINEARS.find((x) => x.kind === kind)!;
  if (layout === 'hf') return `${base}.${l.hfModule}.${l.hf}.${lora ? `lora_${lora}.weight` : 'weight'}`;
  return `${base}.${l.mfModule}.${l.kind}.${lora ? `mindpet_delta_lora_${lora.toLowerCase()}` : 'weight'}`;
}

/** Whether a kind is one of the q/k/v biases. */
export function isQkvBias(kind: ParamKey['kind']): kind is QkvBias {
  return kind === 'bq' || kind === 'bk' || kind === 'bv';
}

/** The layout most of `names` follow (Hugging Face when none is recognised). */
export function detectLayout(names: Iterable<string>): Layout {
  const count: Record<Layout, number> = { hf: 0, mindformers: 0, meta: 0 };
  for (const name of names) {
    if (name.endsWith('lm_head.weight')) continue; // the same in two layouts
    for (const layout of ['hf', 'mindformers', 'meta'] as const) if (parseName(name, layout)) count[layout]++;
  }
  if (count.mindformers > count.hf && count.mindformers >= count.meta) return 'mindformers';
  if (count.meta > count.hf) return 'meta';
  return 'hf';
}

/** `name` from one layout to another (unchanged when it is not a model parameter). */
export function mapName(name: string, from: Layout, to: Layout): string {
  const key = parseName(name, from);
  return key ? formatName(key, to, name) : name;
}

/**
 * Reorders the rows of a wq or wk matrix [heads·hd, cols] (`elem` bytes per value) between
 * Meta's interleaved RoPE pairs and Hugging Face's rotate-half: within each head, HF row
 * j·hd/2 + i is Meta row 2i + j.
 */
export function permuteRopeRows(
  bytes: Uint8Array,
  heads: number,
  rows: number,
  cols: number,
  elem: number,
  to: 'hf' | 'meta',
): Uint8Array {
  const hd = rows / heads,
    half = hd / 2,
    rowBytes = cols * elem;
  const out = new Uint8Array(bytes.length);
  for (let h = 0; h < heads; h++) {
    for (let j = 0; j < 2; j++) {
      for (let i = 0; i < half; i++) {
        const hf = h * hd + j * half + i,
          meta = h * hd + 2 * i + j;
        const [dst, src] = to === 'hf' ? [hf, meta] : [meta, hf];
        out.set(bytes.subarray(src * rowBytes, (src + 1) * rowBytes), dst * rowBytes);
      }
    }
  }
  return out;
}
