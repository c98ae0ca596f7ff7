/**
 * The parameters of a Llama model in one core's arena: base weights (frozen ones stored f32,
 * bf16, int8 with a scale per output row, or in llama.cpp's blocks), norms (always f32), LoRA
 * adapters, and for every trainable tensor its gradient and AdamW state. Names are Hugging Face's.
 */
import type { Core } from '../runtime/core.ts';
import { blockValues, isBlockType, WeightType, weightBytes } from '../runtime/kernels.ts';
import { checkBlockScales } from './block_scales.ts';
import { dequantize, QUANTIZERS } from '../checkpoint/gguf/blocks.ts';
import type { BlockType } from '../checkpoint/gguf/format.ts';
import { Rng } from '../runtime/random.ts';
import { headDim, type LlamaConfig } from './config.ts';
import { LINEARS, linearShape, loraScale, loraTargets, type LinearKind, type LoraConfig } from './lora.ts';
import { Layout, partKey, planEntry, storedType, type PlanEntry } from './layout.ts';
import { shardAxis, sliceMatrix, type ModelShare } from './sharding.ts';

/** A matrix [rows, cols] stored as `wt`; `scale` points at rows f32 scales for int8 (0 otherwise). */
export interface Matrix {
  ptr: number;
  scale: number;
  wt: WeightType;
  rows: number;
  cols: number;
  /** a streamed layer's matrix: its home outside the core's memory (ptr and scale are then the layer slot's) */
  host?: HostMatrix;
}

/** The ggml names of the block weight types. */
const BLOCK_NAMES: Partial<Record<WeightType, BlockType>> = {
  [WeightType.Q8_0]: 'Q8_0',
  [WeightType.Q4_0]: 'Q4_0',
  [WeightType.Q4_K]: 'Q4_K',
  [WeightType.Q6_K]: 'Q6_K',
  [WeightType.Q5_0]: 'Q5_0',
  [WeightType.Q5_K]: 'Q5_K',
  [WeightType.Q4_1]: 'Q4_1',
  [WeightType.Q5_1]: 'Q5_1',
  [WeightType.Q3_K]: 'Q3_K',
};

/** The block types setMatrix quantizes in TypeScript (the K-quants' fits search; the others are rarely asked for). */
const QUANTIZED_IN_TS: ReadonlySet<WeightType> = new Set([
  WeightType.Q5_0,
  WeightType.Q4_1,
  WeightType.Q5_1,
  WeightType.Q4_K,
  WeightType.Q5_K,
  WeightType.Q6_K,
]);

/** Values setMatrix converts per kernel call (its scratch: 16 MiB of f32, not the whole matrix). */
const CONVERT_VALUES = 1 << 22;

/** The ggml name of a block weight type (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K, Q3_K). */
export function blockTypeName(wt: WeightType): BlockType {
  const name = BLOCK_NAMES[wt];
  if (!name) throw new Error(`weight type ${WeightType[wt]} is not a block type`);
  return name;
}

/**
 * The type llama.cpp's quantizer gives a matrix of super-block type `wt` whose rows are not whole
 * super-blocks of 256 values: Q5_0 for Q4_K, Q5_1 for Q5_K, Q8_0 for Q6_K.
 */
export function superBlockFallback(wt: WeightType): WeightType {
  return wt === WeightType.Q4_K ? WeightType.Q5_0 : wt === WeightType.Q5_K ? WeightType.Q5_1 : WeightType.Q8_0;
}

/**
 * How a frozen matrix with rows of `cols` values is stored when the base is stored as `wt`: as
 * `wt`, except that Q4_K, Q5_K and Q6_K need rows of whole super-blocks of 256 values and a matrix
 * whose rows are not takes superBlockFallback's type, as llama.cpp's quantizer does. Throws,
 * naming `what` and its row length, when the rows are not whole blocks of the type it gets.
 */
export function matrixType(wt: WeightType, cols: number, what: string): WeightType {
  const t = blockValues(wt) === 256 && cols % 256 !== 0 ? superBlockFallback(wt) : wt;
  if (cols % blockValues(t) !== 0)
    throw new Error(
      `${WeightType[wt]} weights need rows of a multiple of ${blockValues(t)} values; ${what} has rows of ${cols}`,
    );
  return t;
}

/**
 * How the frozen matrix `key` (a tensor name, or a streamed layer's slot) with rows of `cols`
 * values is stored under options `o`: as the checkpoint stores it when `o.matrixTypes` names it,
 * else as `o.weightType`, either way through matrixType (rows of whole blocks).
 */
export function frozenType(o: WeightOptions, key: string, cols: number): WeightType {
  return matrixType(o.matrixTypes?.[key] ?? o.weightType, cols, key);
}

/**
 * The line stating which frozen matrices of `c` are not stored as `o.weightType` because their rows
 * are not whole super-blocks (see matrixType), or undefined when all are (or each is kept as stored).
 */
export function blockFallbackNote(c: LlamaConfig, o: WeightOptions): string | undefined {
  const wt = o.weightType;
  if (blockValues(wt) !== 256 || o.matrixTypes) return undefined;
  const short = new Map<number, string[]>();
  for (const t of baseTensorList(c))
    if (t.shape.length === 2 && t.shape[1] % 256 !== 0)
      short.set(t.shape[1], [...(short.get(t.shape[1]) ?? []), t.name.replace(/^model\.layers\.\d+\./, 'layers.*.')]);
  if (!short.size) return undefined;
  const which = [...short].map(([cols, names]) => `${[...new Set(names)].join(', ')} (rows of ${cols})`).join('; ');
  return `${WeightType[wt].toLowerCase()}: matrices whose rows are not whole super-blocks of 256 values are stored as ${WeightType[superBlockFallback(wt)].toLowerCase()}: ${which}`;
}

/** The frozen matrices' storage in words: `f32 weights`, or `weights as stored (q4_k ×155, q6_k ×28)`. */
export function describeWeights(o: WeightOptions): string {
  if (!o.matrixTypes) return `${WeightType[o.weightType].toLowerCase()} weights`;
  const counts = new Map<WeightType, number>();
  for (const t of Object.values(o.matrixTypes)) counts.set(t, (counts.get(t) ?? 0) + 1);
  const list = [...counts].sort((a, b) => b[1] - a[1]).map(([t, n]) => `${WeightType[t].toLowerCase()} ×${n}`);
  return `weights as stored (${list.join(', ')})`;
}

/** A frozen matrix kept outside every core's memory, in storage bytes (and int8 row scales), shared by the ranks. */
export interface HostMatrix {
  data: SharedArrayBuffer;
  scales: SharedArrayBuffer | null;
}

/** Every streamed layer's matrices: hostLayers[layer][kind]. */
export type HostLayers = Record<LinearKind, HostMatrix>[];

/** A tensor that training updates: its values, gradient and AdamW moments (all f32). */
export interface Trainable {
  name: string;
  shape: number[];
  n: number;
  ptr: number;
  grad: number;
  m: number;
  v: number;
}

/** LoRA adapter of one linear: A [rank, in], B [out, rank], scale alpha/rank. */
export interface LoraAdapter {
  a: Trainable;
  b: Trainable;
  rank: number;
  scale: number;
}

/** A block's f32 vectors: its two norms, Qwen3's q/k head norms [hd], Qwen2's q/k/v biases [out]. */
export type VectorKind = 'attnNorm' | 'ffnNorm' | 'qNorm' | 'kNorm' | 'bq' | 'bk' | 'bv';

/** One transformer block's parameters. */
export interface LayerParams {
  attnNorm: number;
  ffnNorm: number;
  /** the q and k head norms' weights [hd] (0 without qkNorm) */
  qNorm: number;
  kNorm: number;
  /** the q, k and v biases [out] (none without qkvBias) */
  bias: Partial<Record<'wq' | 'wk' | 'wv', number>>;
  linear: Record<LinearKind, Matrix>;
  lora: Partial<Record<LinearKind, LoraAdapter>>;
  /** gradients of the base tensors in train mode, by kind (vectors under their VectorKind) */
  grads: Partial<Record<LinearKind | VectorKind, number>>;
}

/** finetune: base frozen, LoRA (if any) trained; train: every base parameter trained in f32, no LoRA. */
export type RunMode = 'finetune' | 'train';

/** How to lay out the parameters. */
export interface WeightOptions {
  mode: RunMode;
  /** storage of frozen base matrices (finetune); train mode always uses f32 */
  weightType: WeightType;
  /**
   * each frozen matrix's storage by tensor name, over weightType: a checkpoint's own types
   * (`--dtype stored`, see checkpoint/stored_types.ts), each matrix then taken as is from the file
   */
  matrixTypes?: Readonly<Record<string, WeightType>>;
  /** keep each frozen matrix as the checkpoint stores it: matrixTypes is filled from the checkpoint when the model loads */
  asStored?: boolean;
  /** adapters, for finetune */
  lora?: LoraConfig;
  /** frozen base tensors already in this core's (shared) memory, to use rather than allocate (the other ranks of a job) */
  sharedBase?: BaseLayout;
  /**
   * finetune: keep the blocks' frozen matrices outside the core's memory (sharedBase.hostLayers,
   * or new ones) and copy each layer into one slot before it runs, so that models larger than
   * one WebAssembly memory run
   */
  streamLayers?: boolean;
}

/** Where the frozen base tensors of a model sit: their offsets by key (weightEntries'). */
export interface BaseLayout {
  /** the embedding, each layer's vectors and linears (unless streamed), the final norm, the head unless tied; int8 scales */
  offsets: Record<string, number>;
  /** the streamed layers' matrices */
  hostLayers?: HostLayers;
}

/** Bytes of the frozen matrices a model with streamed layers keeps outside the core's memory. */
export function hostWeightBytes(c: LlamaConfig, o: WeightOptions): number {
  if (o.mode === 'train' || !o.streamLayers) return 0;
  let sum = 0;
  for (let l = 0; l < c.nLayers; l++)
    for (const { kind } of LINEARS) {
      const [rows, cols] = linearShape(c, kind),
        wt = frozenType(o, layerTensorName(l, kind), cols);
      sum += rows * cols * weightBytes(wt) + (wt === WeightType.I8 ? rows * 4 : 0);
    }
  return sum;
}

/** The vectors of a block in the order they are allocated and listed: length and whether they start as ones (norms) or random (biases). */
function layerVectors(c: LlamaConfig): { kind: VectorKind; n: number; ones: boolean }[] {
  const hd = headDim(c);
  const out: { kind: VectorKind; n: number; ones: boolean }[] = [
    { kind: 'attnNorm', n: c.dim, ones: true },
    { kind: 'ffnNorm', n: c.dim, ones: true },
  ];
  if (c.qkNorm) out.push({ kind: 'qNorm', n: hd, ones: true }, { kind: 'kNorm', n: hd, ones: true });
  if (c.qkvBias)
    out.push(
      { kind: 'bq', n: c.nHeads * hd, ones: false },
      { kind: 'bk', n: c.nKvHeads * hd, ones: false },
      { kind: 'bv', n: c.nKvHeads * hd, ones: false },
    );
  return out;
}

const VECTOR_NAMES: Record<VectorKind, string> = {
  attnNorm: 'input_layernorm.weight',
  ffnNorm: 'post_attention_layernorm.weight',
  qNorm: 'self_attn.q_norm.weight',
  kNorm: 'self_attn.k_norm.weight',
  bq: 'self_attn.q_proj.bias',
  bk: 'self_attn.k_proj.bias',
  bv: 'self_attn.v_proj.bias',
};

/** The HF name of a block tensor. */
function layerTensorName(layer: number, kind: LinearKind | VectorKind): string {
  if (kind in VECTOR_NAMES) return `model.layers.${layer}.${VECTOR_NAMES[kind as VectorKind]}`;
  const l = LINEARS.find((x) => x.kind === kind)!;
  return `model.layers.${layer}.${l.hfModule}.${l.hf}.weight`;
}

/** The HF PEFT-style name of a LoRA tensor (without the base_model.model. prefix). */
export function loraTensorName(layer: number, kind: LinearKind, which: 'A' | 'B'): string {
  return layerTensorName(layer, kind).replace(/\.weight$/, `.lora_${which}.weight`);
}

/** The names of the tensors outside the blocks. */
const EMBED_NAME = 'model.embed_tokens.weight',
  NORM_NAME = 'model.norm.weight',
  HEAD_NAME = 'lm_head.weight';

/** Where a base tensor sits in the model: the embedding, a block tensor (with its layer), the final norm or the head. */
export type BaseSlot = { kind: 'embed' | 'norm' | 'head' } | { kind: LinearKind | VectorKind; layer: number };

/** A base tensor of a config: HF name, shape ([out, in] for matrices), and how it starts: ones (norms) or normal(0, std). */
export interface BaseTensor {
  name: string;
  shape: number[];
  init: 'ones' | 'normal';
  slot: BaseSlot;
}

/**
 * Every base tensor of a config, in the order `initRandom` draws them (and checkpoints list
 * them): embedding; per layer the two norms (then q/k norms, q/k/v biases where the family has
 * them) then wq wk wv wo w1 w2 w3; final norm; head unless tied.
 */
export function baseTensorList(c: LlamaConfig): BaseTensor[] {
  const out: BaseTensor[] = [
    { name: EMBED_NAME, shape: [c.vocabSize, c.dim], init: 'normal', slot: { kind: 'embed' } },
  ];
  for (let layer = 0; layer < c.nLayers; layer++) {
    for (const { kind, n, ones } of layerVectors(c))
      out.push({
        name: layerTensorName(layer, kind),
        shape: [n],
        init: ones ? 'ones' : 'normal',
        slot: { kind, layer },
      });
    for (const { kind } of LINEARS)
      out.push({
        name: layerTensorName(layer, kind),
        shape: linearShape(c, kind),
        init: 'normal',
        slot: { kind, layer },
      });
  }
  out.push({ name: NORM_NAME, shape: [c.dim], init: 'ones', slot: { kind: 'norm' } });
  if (!c.tieEmbeddings)
    out.push({ name: HEAD_NAME, shape: [c.vocabSize, c.dim], init: 'normal', slot: { kind: 'head' } });
  return out;
}

/** The key of a streamed model's slot for one kind of linear (every layer's matrix is copied into it in turn). */
function slotKey(kind: LinearKind): string {
  return `layer slot ${kind}`;
}

/**
 * The storage of a streamed model's slot for one kind of linear: the type of the layers' matrices
 * of that kind with the most bytes a value (they differ in a checkpoint of mixed types), so that
 * every layer's matrix fits in it.
 */
function slotType(c: LlamaConfig, o: WeightOptions, kind: LinearKind): WeightType {
  const cols = linearShape(c, kind)[1];
  const types = Array.from({ length: c.nLayers }, (_, l) => frozenType(o, layerTensorName(l, kind), cols));
  const wt = types.reduce((a, t) => (weightBytes(t) > weightBytes(a) ? t : a));
  if (types.some((t) => (t === WeightType.I8) !== (wt === WeightType.I8)))
    throw new Error(
      `the layers' ${kind} matrices mix int8 (with row scales) and other types; they cannot share a slot`,
    );
  return wt;
}

/**
 * Every allocation of the parameters, in the order they are made, keyed by tensor name (the
 * gradient, moments and int8 row scales under partKey): the weights' share of the memory plan.
 */
export function weightEntries(c: LlamaConfig, o: WeightOptions): PlanEntry[] {
  const trainBase = o.mode === 'train';
  const out: PlanEntry[] = [];
  const trainable = (key: string, shape: number[], category: 'weights' | 'LoRA') => {
    out.push(planEntry(key, shape, 'f32', category), planEntry(partKey(key, 'grad'), shape, 'f32', 'gradients'));
    for (const s of ['m', 'v'] as const) out.push(planEntry(partKey(key, s), shape, 'f32', 'optimizer state'));
  };
  const held = !trainBase && o.sharedBase !== undefined; // the base is another rank's allocation
  const streaming = !trainBase && !!o.streamLayers;
  const own = (key: string, rows: number, cols: number, t = frozenType(o, key, cols)) => {
    out.push(planEntry(key, [rows, cols], storedType(t), 'weights'));
    if (t === WeightType.I8) out.push(planEntry(partKey(key, 'scales'), [rows], 'f32', 'weights'));
  };
  const matrix = (key: string, rows: number, cols: number) => {
    if (trainBase) return trainable(key, [rows, cols], 'weights');
    if (!held) own(key, rows, cols);
  };
  const vector = (key: string, n: number) => {
    if (trainBase) return trainable(key, [n], 'weights');
    if (!held) out.push(planEntry(key, [n], 'f32', 'weights'));
  };
  matrix(EMBED_NAME, c.vocabSize, c.dim);
  if (streaming) for (const { kind } of LINEARS) own(slotKey(kind), ...linearShape(c, kind), slotType(c, o, kind));
  const targets = o.mode === 'finetune' && o.lora ? loraTargets(o.lora) : [];
  for (let l = 0; l < c.nLayers; l++) {
    for (const { kind, n } of layerVectors(c)) vector(layerTensorName(l, kind), n);
    for (const { kind } of LINEARS) {
      const [rows, cols] = linearShape(c, kind);
      if (!streaming) matrix(layerTensorName(l, kind), rows, cols);
      if (targets.includes(kind)) {
        trainable(loraTensorName(l, kind, 'A'), [o.lora!.rank, cols], 'LoRA');
        trainable(loraTensorName(l, kind, 'B'), [rows, o.lora!.rank], 'LoRA');
      }
    }
  }
  vector(NORM_NAME, c.dim);
  if (!c.tieEmbeddings) matrix(HEAD_NAME, c.vocabSize, c.dim);
  return out;
}

/** Fresh homes (shared, zeroed) for streamed layer l's matrices stored as `o` says. */
function newHostLayer(c: LlamaConfig, o: WeightOptions, l: number): Record<LinearKind, HostMatrix> {
  return Object.fromEntries(
    LINEARS.map(({ kind }) => {
      const [rows, cols] = linearShape(c, kind),
        t = frozenType(o, layerTensorName(l, kind), cols);
      return [
        kind,
        {
          data: new SharedArrayBuffer(rows * cols * weightBytes(t)),
          scales: t === WeightType.I8 ? new SharedArrayBuffer(rows * 4) : null,
        },
      ];
    }),
  ) as Record<LinearKind, HostMatrix>;
}

/** All parameters of a model, allocated in a core's arena. */
export class LlamaWeights {
  readonly embed: Matrix;
  readonly layers: LayerParams[] = [];
  readonly norm: number;
  readonly head: Matrix;
  /** every tensor the optimizer updates (LoRA A and B in finetune, everything in train) */
  readonly trainable: Trainable[] = [];
  /** gradients of embed, final norm and head in train mode (head shares embed's when tied) */
  readonly embedGrad: number = 0;
  readonly normGrad: number = 0;
  readonly headGrad: number = 0;
  /** where every parameter, gradient and moment sits: the plan's weight entries, allocated */
  readonly layout: Layout;
  /** streamed layers: their matrices outside the core's memory, and the layer the slot holds (-1: none) */
  readonly hostLayers?: HostLayers;
  private slotLayer = -1;

  constructor(
    readonly core: Core,
    readonly config: LlamaConfig,
    readonly options: WeightOptions,
  ) {
    const c = config,
      o = options,
      arena = core.arena;
    const trainBase = o.mode === 'train';
    if (!trainBase && o.asStored && !o.matrixTypes)
      throw new Error('weights kept as stored (--dtype stored) need a checkpoint to load');
    const targets = o.mode === 'finetune' && o.lora ? loraTargets(o.lora) : [];
    const layout = new Layout(arena, weightEntries(c, o), 'the weights');
    this.layout = layout;
    const trainable = (name: string, shape: number[]): Trainable => {
      const n = shape.reduce((a, b) => a * b, 1);
      const t: Trainable = {
        name,
        shape,
        n,
        ptr: layout.take(name),
        grad: layout.take(partKey(name, 'grad')),
        m: layout.take(partKey(name, 'm')),
        v: layout.take(partKey(name, 'v')),
      };
      for (const p of [t.ptr, t.grad, t.m, t.v]) arena.f32(p, n).fill(0);
      this.trainable.push(t);
      return t;
    };
    const shared = trainBase ? undefined : o.sharedBase;
    const sharedAt = (key: string): number => {
      const at = shared!.offsets[key];
      if (at === undefined) throw new Error(`the shared base weights have no ${key}`);
      return at;
    };
    const own = (key: string, rows: number, cols: number, t = frozenType(o, key, cols)): Matrix => {
      const ptr = layout.take(key);
      return { ptr, scale: t === WeightType.I8 ? layout.take(partKey(key, 'scales')) : 0, wt: t, rows, cols };
    };
    const matrix = (name: string, rows: number, cols: number): [Matrix, number] => {
      if (trainBase) {
        const t = trainable(name, [rows, cols]);
        return [{ ptr: t.ptr, scale: 0, wt: WeightType.F32, rows, cols }, t.grad];
      }
      if (shared) {
        const t = frozenType(o, name, cols),
          ptr = sharedAt(name);
        return [{ ptr, scale: t === WeightType.I8 ? sharedAt(partKey(name, 'scales')) : 0, wt: t, rows, cols }, 0];
      }
      return [own(name, rows, cols), 0];
    };
    const vector = (name: string, n: number): [number, number] => {
      if (trainBase) {
        const t = trainable(name, [n]);
        return [t.ptr, t.grad];
      }
      if (shared) return [sharedAt(name), 0];
      const p = layout.take(name);
      arena.f32(p, n).fill(1); // norms start as ones; every vector is set when weights load
      return [p, 0];
    };
    [this.embed, this.embedGrad] = matrix(EMBED_NAME, c.vocabSize, c.dim);
    // Streamed layers: one slot of this core's own, every layer's matrices outside the memory.
    const streaming = !trainBase && !!o.streamLayers;
    const slot = streaming
      ? (Object.fromEntries(
          LINEARS.map(({ kind }) => [kind, own(slotKey(kind), ...linearShape(c, kind), slotType(c, o, kind))]),
        ) as Record<LinearKind, Matrix>)
      : undefined;
    if (streaming)
      this.hostLayers = shared?.hostLayers ?? Array.from({ length: c.nLayers }, (_, l) => newHostLayer(c, o, l));
    for (let l = 0; l < c.nLayers; l++) {
      const grads: LayerParams['grads'] = {};
      const vectorPtr: Partial<Record<VectorKind, number>> = {};
      for (const { kind, n } of layerVectors(c)) {
        const [ptr, grad] = vector(layerTensorName(l, kind), n);
        vectorPtr[kind] = ptr;
        if (trainBase) grads[kind] = grad;
      }
      const bias: LayerParams['bias'] = c.qkvBias ? { wq: vectorPtr.bq, wk: vectorPtr.bk, wv: vectorPtr.bv } : {};
      const linear = {} as Record<LinearKind, Matrix>;
      const lora: LayerParams['lora'] = {};
      for (const { kind } of LINEARS) {
        const [rows, cols] = linearShape(c, kind);
        const name = layerTensorName(l, kind);
        const [m, g] = slot
          ? [{ ...slot[kind], wt: frozenType(o, name, cols), host: this.hostLayers![l][kind] }, 0]
          : matrix(name, rows, cols);
        linear[kind] = m;
        if (g) grads[kind] = g;
        if (targets.includes(kind)) {
          const r = o.lora!.rank;
          lora[kind] = {
            a: trainable(loraTensorName(l, kind, 'A'), [r, cols]),
            b: trainable(loraTensorName(l, kind, 'B'), [rows, r]),
            rank: r,
            scale: loraScale(o.lora!),
          };
        }
      }
      this.layers.push({
        attnNorm: vectorPtr.attnNorm!,
        ffnNorm: vectorPtr.ffnNorm!,
        qNorm: vectorPtr.qNorm ?? 0,
        kNorm: vectorPtr.kNorm ?? 0,
        bias,
        linear,
        lora,
        grads,
      });
    }
    [this.norm, this.normGrad] = vector(NORM_NAME, c.dim);
    if (c.tieEmbeddings) {
      this.head = this.embed;
      this.headGrad = this.embedGrad;
    } else {
      [this.head, this.headGrad] = matrix(HEAD_NAME, c.vocabSize, c.dim);
    }
    layout.finish();
  }

  /** Every base tensor by HF name (baseTensorList's order) with its matrix or its f32 vector's pointer. */
  baseTensors(): { name: string; shape: number[]; matrix?: Matrix; vector?: number }[] {
    return baseTensorList(this.config).map(({ name, shape, slot }) => {
      if (!('layer' in slot))
        return slot.kind === 'norm'
          ? { name, shape, vector: this.norm }
          : { name, shape, matrix: slot.kind === 'embed' ? this.embed : this.head };
      const p = this.layers[slot.layer];
      if (slot.kind in VECTOR_NAMES) return { name, shape, vector: this.layerVector(p, slot.kind as VectorKind) };
      return { name, shape, matrix: p.linear[slot.kind as LinearKind] };
    });
  }

  /** Where a block's vector sits. */
  private layerVector(p: LayerParams, kind: VectorKind): number {
    switch (kind) {
      case 'attnNorm':
      case 'ffnNorm':
      case 'qNorm':
      case 'kNorm':
        return p[kind];
      case 'bq':
        return p.bias.wq!;
      case 'bk':
        return p.bias.wk!;
      case 'bv':
        return p.bias.wv!;
    }
  }

  /** Where the frozen base tensors sit, for the other ranks of a job (sharedBase); train mode has none. */
  baseLayout(): BaseLayout {
    const offsets: Record<string, number> = {};
    for (const { name } of baseTensorList(this.config))
      for (const key of [name, partKey(name, 'scales')]) {
        const at = this.layout.offset(key);
        if (at !== undefined) offsets[key] = at;
      }
    return { offsets, hostLayers: this.hostLayers };
  }

  /** Streamed layers: copies layer l's matrices into the slot unless it holds them already. */
  fetchLayer(l: number): void {
    if (!this.hostLayers || this.slotLayer === l) return;
    for (const m of Object.values(this.layers[l].linear)) this.fromHost(m);
    this.slotLayer = l;
  }

  /** Copies a streamed matrix from its home into the slot. */
  private fromHost(m: Matrix): void {
    const { arena } = this.core,
      h = m.host!;
    arena.u8(m.ptr, h.data.byteLength).set(new Uint8Array(h.data));
    if (h.scales) arena.u8(m.scale, h.scales.byteLength).set(new Uint8Array(h.scales));
  }

  /** Stores f32 values into a matrix in its storage type (bf16 rounding, int8 quantization). */
  setMatrix(m: Matrix, values: Float32Array): void {
    const { arena, kernels } = this.core;
    if (values.length !== m.rows * m.cols)
      throw new Error(`matrix of ${m.rows}x${m.cols} given ${values.length} values`);
    if (m.host) {
      // Stored through the slot (converted there by the kernels), then copied home.
      this.slotLayer = -1;
      this.setMatrix({ ...m, host: undefined }, values);
      new Uint8Array(m.host.data).set(arena.u8(m.ptr, m.host.data.byteLength));
      if (m.host.scales) new Uint8Array(m.host.scales).set(arena.u8(m.scale, m.host.scales.byteLength));
      return;
    }
    if (m.wt === WeightType.F32) {
      arena.f32(m.ptr, values.length).set(values);
      return;
    }
    if (m.wt === WeightType.Q3_K)
      throw new Error(
        `a Q3_K matrix [${m.rows}, ${m.cols}] takes the blocks a GGUF file stores; nothing here quantizes to Q3_K`,
      );
    if (QUANTIZED_IN_TS.has(m.wt)) {
      const type = blockTypeName(m.wt),
        blocks = QUANTIZERS[type]!(values);
      checkBlockScales(blocks, type);
      arena.u8(m.ptr, blocks.length).set(blocks);
      return;
    }
    // The kernels convert the rows a chunk at a time through a scratch of at most CONVERT_VALUES f32.
    const mark = arena.mark(),
      chunk = Math.max(1, Math.floor(CONVERT_VALUES / m.cols)),
      tmp = arena.alloc(Math.min(m.rows, chunk) * m.cols * 4),
      rowBytes = m.cols * weightBytes(m.wt);
    for (let r0 = 0; r0 < m.rows; r0 += chunk) {
      const rows = Math.min(chunk, m.rows - r0),
        n = rows * m.cols,
        dst = m.ptr + r0 * rowBytes;
      arena.f32(tmp, n).set(values.subarray(r0 * m.cols, r0 * m.cols + n));
      if (m.wt === WeightType.Q8_0 || m.wt === WeightType.Q4_0) kernels.quantizeBlocks(dst, tmp, n, m.wt);
      else if (m.wt === WeightType.BF16) kernels.f32ToBf16(dst, tmp, n);
      else kernels.quantizeRowsInt8(dst, m.scale + r0 * 4, tmp, rows, m.cols);
    }
    arena.release(mark);
    if (isBlockType(m.wt)) checkBlockScales(arena.u8(m.ptr, m.rows * rowBytes), blockTypeName(m.wt));
  }

  /** Stores a block-quantized matrix's blocks as they are (a GGUF file's). */
  setMatrixBlocks(m: Matrix, blocks: Uint8Array): void {
    const want = m.rows * m.cols * weightBytes(m.wt);
    if (!isBlockType(m.wt) || blocks.length !== want)
      throw new Error(
        `matrix of ${m.rows}x${m.cols} ${WeightType[m.wt]} given ${blocks.length} bytes of blocks, ${want} needed`,
      );
    checkBlockScales(blocks, blockTypeName(m.wt));
    if (m.host) {
      new Uint8Array(m.host.data).set(blocks);
      this.slotLayer = -1;
      return;
    }
    this.core.arena.u8(m.ptr, blocks.length).set(blocks);
  }

  /** The f32 values a matrix holds (dequantized: what the kernels compute with). */
  getMatrix(m: Matrix): Float32Array {
    const { arena } = this.core;
    const n = m.rows * m.cols;
    if (m.host) {
      this.slotLayer = -1;
      this.fromHost(m);
    }
    if (m.wt === WeightType.F32) return Float32Array.from(arena.f32(m.ptr, n));
    if (m.wt === WeightType.BF16) {
      const u = arena.u16(m.ptr, n),
        out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = u[i] << 16;
      return new Float32Array(out.buffer);
    }
    if (isBlockType(m.wt)) {
      const type = blockTypeName(m.wt);
      return dequantize(type, arena.u8(m.ptr, n * weightBytes(m.wt)), n, `${type} matrix [${m.rows}, ${m.cols}]`);
    }
    const q = arena.i8(m.ptr, n),
      s = arena.f32(m.scale, m.rows),
      out = new Float32Array(n);
    for (let r = 0; r < m.rows; r++) for (let j = 0; j < m.cols; j++) out[r * m.cols + j] = q[r * m.cols + j] * s[r];
    return out;
  }

  /**
   * Random base weights (normal, std 0.02, biases too; norms 1) from `seed`, for training from scratch and
   * tests; a model-parallel rank (`share`) gets its slices of the whole model's values.
   */
  initRandom(seed: number, std = 0.02, share?: ModelShare): void {
    const rng = new Rng(seed),
      list = baseTensorList(this.config);
    this.baseTensors().forEach((t, i) => {
      const n = t.shape.reduce((a, b) => a * b, 1),
        slot = list[i].slot;
      if (t.vector !== undefined) {
        const v = this.core.arena.f32(t.vector, n);
        return list[i].init === 'ones' ? v.fill(1) : v.set(rng.fillNormal(new Float32Array(n), std));
      }
      const m = t.matrix!,
        axis = share && 'layer' in slot ? shardAxis(slot.kind as LinearKind) : undefined;
      if (axis === undefined) return this.setMatrix(m, rng.fillNormal(new Float32Array(n), std));
      // A model-parallel rank draws the whole model's values and keeps its slice.
      const [rows, cols] =
        axis === 0 ? [t.shape[0] * share!.parts, t.shape[1]] : [t.shape[0], t.shape[1] * share!.parts];
      this.setMatrix(m, sliceMatrix(rng.fillNormal(new Float32Array(rows * cols), std), rows, cols, axis, share!));
    });
  }

  /** LoRA A uniform(±1/√in) and B zero (SPEC.md §8), from `seed`; a model-parallel rank gets its slices of the whole model's. */
  initLora(seed: number, share?: ModelShare): void {
    const rng = new Rng(seed);
    for (const layer of this.layers) {
      for (const [kind, ad] of Object.entries(layer.lora) as [LinearKind, LoraAdapter][]) {
        const [r, cols] = ad.a.shape,
          parts = share && shardAxis(kind, 'A') === 1 ? share.parts : 1;
        const bound = 1 / Math.sqrt(cols * parts),
          a = this.core.arena.f32(ad.a.ptr, ad.a.n);
        if (parts === 1) rng.fillUniform(a, -bound, bound);
        else
          a.set(
            sliceMatrix(rng.fillUniform(new Float32Array(r * cols * parts), -bound, bound), r, cols * parts, 1, share!),
          );
        this.core.arena.f32(ad.b.ptr, ad.b.n).fill(0);
      }
    }
  }

  /** Sets every trainable gradient to zero. */
  zeroGrads(): void {
    for (const t of this.trainable) this.core.arena.f32(t.grad, t.n).fill(0);
  }
}
