/**
 * The Llama model with LoRA: forward over a batch into the SPEC loss, backward into the LoRA
 * parameters (finetune) or every parameter (train), with optional recomputation per layer.
 * Readable top to bottom, llm.c style: every activation has a planned place in the arena, and
 * each step is one kernel call.
 *
 * Shapes: B sequences of S positions, T = B·S rows; D hidden, H heads and KVH key/value heads of
 * size hd, F the FFN inner size, V the vocabulary. Activations are row-major [T, ·].
 *
 * The families' differences (config.ts) sit where Hugging Face puts them: Llama 3's frequencies
 * in the rope table, Qwen2's biases added to q, k and v after their projections, Qwen3's RMSNorm
 * over each head of q and k between the projection and RoPE; Mistral's sliding window is a
 * limit on the sequence length (within it, attention is plain causal).
 */
import type { Core } from '../runtime/core.ts';
import { isBlockType, WeightType } from '../runtime/kernels.ts';
import { Rng } from '../runtime/random.ts';
import { headDim, type LlamaConfig } from './config.ts';
import { LINEARS, linearShape, type LinearKind } from './lora.ts';
import { Layout } from './layout.ts';
import { activationPlan, checkFits, weightPlan } from './plan.ts';
import { batchShape, type Batch } from './batch.ts';
import type { ModelOptions } from './options.ts';
import type { ModelShare } from './sharding.ts';
import { LlamaWeights, type LayerParams, type Matrix } from './weights.ts';

export type { ModelOptions };

/** Sums a buffer of the shared memory over the model-parallel ranks, in place (every rank calls it at the same point). */
export interface PartialSums {
  sum(ptr: number, floats: number): void;
}

/** What one forward (and backward) over a batch produced. */
export interface StepResult {
  /** Σ(ce·mask)/(Σmask + 1e-8) */
  loss: number;
  /** Σmask: positions that counted */
  tokens: number;
}

/** Saved forward activations of one layer (pointers into the arena). */
interface LayerActs {
  xin: number;
  xn1: number;
  rstd1: number;
  q: number;
  k: number;
  v: number;
  att: number;
  lse: number;
  xmid: number;
  xn2: number;
  rstd2: number;
  g: number;
  u: number;
  h: number;
  /** qkNorm: q and k before their head norms [T, H·hd], [T, KVH·hd], and the norms' rstd [T·H], [T·KVH] (0 otherwise) */
  qRaw: number;
  kRaw: number;
  rstdQ: number;
  rstdK: number;
  /** LoRA: t = scale·dropout(x)·Aᵀ [T, rank], and the dropout multipliers [T, in] (0 when no dropout) */
  lora: Partial<Record<LinearKind, { t: number; mask: number }>>;
}

/** Every buffer a step uses, allocated for up to capT rows and capS positions. */
interface StepBuffers {
  /** where each buffer sits: the activation plan's entries, allocated */
  layout: Layout;
  capT: number;
  capS: number;
  /** the shape of the current step (B·S ≤ capT, S ≤ capS) */
  B: number;
  S: number;
  T: number;
  /** positions the rope table holds: ropeOffset .. ropeOffset + S − 1 */
  ropeOffset: number;
  ropeS: number;
  layers: LayerActs[];
  xL: number;
  xf: number;
  rstdf: number;
  rope: number;
  ids: number;
  targets: number;
  validTargets: number;
  logits: number;
  logitsRows: number;
  rowLoss: number;
  rowLse: number;
  dres: number;
  dtmp: number;
  dxn: number;
  datt: number;
  dq: number;
  dk: number;
  dv: number;
  dh: number;
  dg: number;
  du: number;
  loraDt: number;
  loraTmp: number;
  normGradSink: number;
}

/** Whether a position counts in the loss: its token is not padding and its target is not ignored (-100). */
function counts(token: number, target: number, padId: number): boolean {
  return token !== padId && target !== -100;
}

/** Σmask of a batch [B, S+1] (labels null: the ids are the labels): the positions step divides the loss by. */
export function countedTargets(
  inputIds: Int32Array,
  labels: Int32Array | null,
  B: number,
  S: number,
  padId: number,
): number {
  let n = 0;
  for (let r = 0; r < B; r++) {
    for (let s = 0; s < S; s++)
      if (counts(inputIds[r * (S + 1) + s], (labels ?? inputIds)[r * (S + 1) + s + 1], padId)) n++;
  }
  return n;
}

/** A Llama model bound to one core. */
export class LlamaModel {
  readonly weights: LlamaWeights;
  private buffers?: StepBuffers;
  /** backward passes taken: numbers the dropout streams (restored on resume for identical masks) */
  stepCount = 0;
  /** a model-parallel rank (its config is its share, see sharding.ts): sums partial activations over the ranks */
  modelParallel?: PartialSums;

  /**
   * Allocates the weights (zero) and, with LoRA, initialises the adapters as PEFT does: A
   * uniform from `options.seed` (default 0), B zero, so the first step already trains them. A
   * model-parallel rank (`share`) gets its slices of the whole model's A.
   */
  constructor(
    readonly core: Core,
    readonly config: LlamaConfig,
    readonly options: ModelOptions,
    share?: ModelShare,
  ) {
    checkFits(
      weightPlan(config, options),
      core.arena.used,
      options.mode === 'train'
        ? 'train a smaller model, or split it across ranks (model_parallel)'
        : 'store the base weights as bf16 or int8, or split them across ranks (model_parallel)',
    );
    this.weights = new LlamaWeights(core, config, options);
    if (options.mode === 'finetune' && options.lora) this.weights.initLora(options.seed ?? 0, share);
  }

  /**
   * y[n, W.rows] (+)= x·Wᵀ as generation computes it: the integer products over block-quantized
   * weights unless ModelOptions.activations is 'f32', else batched rows (the weights read once for
   * all, each row's bits as alone) or the one product. Every row gets the bits it gets alone.
   */
  generationProduct(y: number, x: number, W: Matrix, n: number, batched: boolean, accumulate = false): void {
    const k = this.core.kernels;
    if (this.options.activations !== 'f32' && isBlockType(W.wt))
      k.matmulXWtInt8(y, x, W.ptr, n, W.rows, W.cols, W.wt, accumulate);
    else if (batched) k.matmulXWtRows(y, x, W.ptr, W.scale, n, W.rows, W.cols, W.wt, accumulate);
    else k.matmulXWt(y, x, W.ptr, W.scale, n, W.rows, W.cols, W.wt, accumulate);
  }

  /** True while forwardCached runs: linear layers take generationProduct. */
  private generating = false;

  // ---------------------------------------------------------------------------------------
  // Buffers

  /**
   * The buffers for a step over [B, S] at positions offset.. (the rope table follows): reused
   * when they are large enough, else allocated in the plan's order (and the old ones freed when
   * nothing was allocated after them).
   */
  private prepare(B: number, S: number, offset = 0): StepBuffers {
    let b = this.buffers;
    if (!b || B * S > b.capT || S > b.capS) b = this.allocate(B, S);
    b.B = B;
    b.S = S;
    b.T = B * S;
    if (b.ropeOffset !== offset || b.ropeS !== S) {
      this.core.kernels.ropeTable(
        b.rope,
        S,
        headDim(this.config),
        this.config.ropeTheta,
        offset,
        this.config.ropeScaling,
      );
      b.ropeOffset = offset;
      b.ropeS = S;
    }
    return b;
  }

  /** Where the step buffers sit (the activation plan's entries, allocated), once a step or reserve made them. */
  get stepLayout(): Layout | undefined {
    return this.buffers?.layout;
  }

  /** Makes sure the step buffers can hold [B, S] (allocating now rather than in a later step). */
  reserve(B: number, S: number): void {
    this.prepare(B, S);
  }

  /** Allocates every buffer for [B, S] where the activation plan puts it, each taken by its key. */
  private allocate(B: number, S: number): StepBuffers {
    const arena = this.core.arena;
    if (this.buffers && arena.mark() === this.bufferEnd) arena.release(this.bufferStart);
    const plan = activationPlan(this.config, this.options, B, S);
    checkFits(
      plan,
      arena.used,
      `lower the batch size (${B}) or the sequence length (${S})${this.options.recompute ? '' : ', or turn on recompute'}`,
    );
    this.bufferStart = arena.mark();
    const layout = new Layout(arena, plan, 'the step buffers'),
      at = (key: string) => layout.take(key);
    const c = this.config,
      T = B * S,
      dropout = (this.options.lora?.dropout ?? 0) > 0;
    const layerSet = (p: string, xin: number): LayerActs => {
      const of = (name: string) => at(`${p} ${name}`);
      const a: LayerActs = {
        xin,
        xn1: of('xn1'),
        rstd1: of('rstd1'),
        q: of('q'),
        k: of('k'),
        v: of('v'),
        att: of('att'),
        lse: of('lse'),
        xmid: of('xmid'),
        xn2: of('xn2'),
        rstd2: of('rstd2'),
        g: of('g'),
        u: of('u'),
        h: of('h'),
        qRaw: c.qkNorm ? of('qRaw') : 0,
        kRaw: c.qkNorm ? of('kRaw') : 0,
        rstdQ: c.qkNorm ? of('rstdQ') : 0,
        rstdK: c.qkNorm ? of('rstdK') : 0,
        lora: {},
      };
      for (const kind of this.loraKinds())
        a.lora[kind] = { t: of(`${kind} lora t`), mask: dropout ? of(`${kind} lora mask`) : 0 };
      return a;
    };
    const layers: LayerActs[] = [];
    for (let l = 0; l < c.nLayers; l++) {
      const xin = at(`layer ${l} xin`);
      layers.push(this.options.recompute ? ({ xin } as LayerActs) : layerSet(`layer ${l}`, xin));
    }
    if (this.options.recompute) {
      const shared = layerSet('layer recomputed', 0);
      for (const l of layers) Object.assign(l, { ...shared, xin: l.xin });
    }
    const b: StepBuffers = {
      layout,
      capT: T,
      capS: S,
      B,
      S,
      T,
      ropeOffset: -1,
      ropeS: 0,
      layers,
      xL: at('xL'),
      xf: at('xf'),
      rstdf: at('rstdf'),
      rope: at('rope'),
      ids: at('ids'),
      targets: at('targets'),
      validTargets: at('validTargets'),
      logits: at('logits'),
      logitsRows: Math.min(T, this.options.logitsChunk ?? 256),
      rowLoss: at('rowLoss'),
      rowLse: at('rowLse'),
      dres: at('dres'),
      dtmp: at('dtmp'),
      dxn: at('dxn'),
      datt: at('datt'),
      dq: at('dq'),
      dk: at('dk'),
      dv: at('dv'),
      dh: at('dh'),
      dg: at('dg'),
      du: at('du'),
      loraDt: at('loraDt'),
      loraTmp: at('loraTmp'),
      normGradSink: at('normGradSink'),
    };
    layout.finish();
    this.bufferEnd = arena.mark();
    this.buffers = b;
    return b;
  }
  private bufferStart = 0;
  private bufferEnd = -1;

  /** The linear kinds that carry LoRA adapters. */
  loraKinds(): LinearKind[] {
    const first = this.weights.layers[0];
    return first ? LINEARS.map((l) => l.kind).filter((k) => first.lora[k]) : [];
  }

  // ---------------------------------------------------------------------------------------
  // Linear layers with LoRA

  /** y[T,out] (+)= x·Wᵀ + t·Bᵀ with t = scale·dropout(x)·Aᵀ saved for backward. */
  private linearForward(
    y: number,
    x: number,
    p: LayerParams,
    kind: LinearKind,
    T: number,
    acts: LayerActs,
    accumulate: boolean,
    train: boolean,
  ): void {
    const k = this.core.kernels,
      W = p.linear[kind];
    if (this.generating) this.generationProduct(y, x, W, T, false, accumulate);
    else k.matmulXWt(y, x, W.ptr, W.scale, T, W.rows, W.cols, W.wt, accumulate);
    const ad = p.lora[kind];
    if (!ad) return;
    const saved = acts.lora[kind]!,
      t = saved.t;
    let xd = x;
    if (train && saved.mask) {
      xd = this.buffers!.loraTmp;
      k.multiply(xd, x, saved.mask, T * W.cols);
    }
    k.matmulXWt(t, xd, ad.a.ptr, 0, T, ad.rank, W.cols, WeightType.F32);
    k.scale(t, T * ad.rank, ad.scale);
    k.matmulXWt(y, t, ad.b.ptr, 0, T, W.rows, ad.rank, WeightType.F32, true);
  }

  /**
   * dx[T,in] (+)= dy·W (+ LoRA path); gradients of W (train) or of A and B (finetune) accumulate.
   * dx = null skips the input gradient (nothing below needs it).
   */
  private linearBackward(
    dx: number | null,
    dy: number,
    x: number,
    p: LayerParams,
    kind: LinearKind,
    T: number,
    acts: LayerActs,
    accumulate: boolean,
  ): void {
    const k = this.core.kernels,
      W = p.linear[kind],
      b = this.buffers!;
    if (dx !== null) k.matmulDyW(dx, dy, W.ptr, W.scale, T, W.rows, W.cols, W.wt, accumulate);
    const gW = p.grads[kind];
    if (gW) k.matmulDyTX(gW, dy, x, T, W.rows, W.cols, true);
    const ad = p.lora[kind];
    if (!ad) return;
    const saved = acts.lora[kind]!;
    k.matmulDyTX(ad.b.grad, dy, saved.t, T, W.rows, ad.rank, true); // dB += dyᵀ·t
    k.matmulDyW(b.loraDt, dy, ad.b.ptr, 0, T, W.rows, ad.rank, WeightType.F32); // dt = dy·B
    k.scale(b.loraDt, T * ad.rank, ad.scale);
    let xd = x;
    if (saved.mask) {
      xd = b.loraTmp;
      k.multiply(xd, x, saved.mask, T * W.cols);
    }
    k.matmulDyTX(ad.a.grad, b.loraDt, xd, T, ad.rank, W.cols, true); // dA += dtᵀ·dropout(x)
    if (dx === null) return;
    if (!saved.mask) {
      k.matmulDyW(dx, b.loraDt, ad.a.ptr, 0, T, ad.rank, W.cols, WeightType.F32, true); // dx += dt·A
    } else {
      k.matmulDyW(b.loraTmp, b.loraDt, ad.a.ptr, 0, T, ad.rank, W.cols, WeightType.F32);
      k.multiply(b.loraTmp, b.loraTmp, saved.mask, T * W.cols);
      k.axpy(dx, b.loraTmp, T * W.cols);
    }
  }

  /**
   * Writes the dropout multipliers (0 or 1/(1−p)) of every adapter of layer l for the current
   * step; they come from a stream seeded by (seed, step, layer), so recomputation redraws the
   * same masks.
   */
  private drawDropout(l: number, acts: LayerActs, T: number): void {
    const p = this.options.lora?.dropout ?? 0;
    if (!(p > 0)) return;
    const rng = new Rng(
      ((this.options.seed ?? 0) * 0x9e3779b1) ^
        Math.imul(this.stepCount + 1, 0x85ebca6b) ^
        Math.imul(l + 1, 0xc2b2ae35),
    );
    const keep = 1 / (1 - p),
      arena = this.core.arena;
    for (const [kind, saved] of Object.entries(acts.lora)) {
      const n = T * linearShape(this.config, kind as LinearKind)[1];
      const m = arena.f32(saved!.mask, n);
      for (let i = 0; i < n; i++) m[i] = rng.uniform() < p ? 0 : keep;
    }
  }

  // ---------------------------------------------------------------------------------------
  // One transformer block

  /** Forward of layer l from acts.xin into `out` [T,D] (the next layer's input); with a cache, attention reads and extends it. */
  private layerForward(l: number, acts: LayerActs, out: number, train: boolean, cache?: KVCache): void {
    this.weights.fetchLayer(l);
    const c = this.config,
      k = this.core.kernels,
      b = this.buffers!,
      p = this.weights.layers[l];
    const { B, S, T } = b,
      D = c.dim,
      hd = headDim(c),
      F = c.ffnDim;
    k.rmsnormForward(acts.xn1, acts.rstd1, acts.xin, p.attnNorm, T, D, c.normEps);
    this.headsForward(acts.q, acts.qRaw, acts.rstdQ, p.qNorm, c.nHeads, p, 'wq', acts, train);
    this.headsForward(acts.k, acts.kRaw, acts.rstdK, p.kNorm, c.nKvHeads, p, 'wk', acts, train);
    this.linearForward(acts.v, acts.xn1, p, 'wv', T, acts, false, train);
    this.addBias(acts.v, p.bias.wv, T, c.nKvHeads * hd);
    k.ropeApply(acts.q, b.rope, B, S, c.nHeads, hd);
    k.ropeApply(acts.k, b.rope, B, S, c.nKvHeads, hd);
    if (cache) this.attendCached(l, acts, cache);
    else k.attentionForward(acts.att, acts.lse, acts.q, acts.k, acts.v, B, S, c.nHeads, c.nKvHeads, hd);
    this.residualLinear(acts.xmid, acts.xin, acts.att, p, 'wo', T, acts, train); // xmid = xin + att·Woᵀ
    k.rmsnormForward(acts.xn2, acts.rstd2, acts.xmid, p.ffnNorm, T, D, c.normEps);
    this.linearForward(acts.g, acts.xn2, p, 'w1', T, acts, false, train);
    this.linearForward(acts.u, acts.xn2, p, 'w3', T, acts, false, train);
    k.swigluForward(acts.h, acts.g, acts.u, T * F);
    this.residualLinear(out, acts.xmid, acts.h, p, 'w2', T, acts, train); // out = xmid + h·W2ᵀ
  }

  /**
   * q or k [T, heads·hd] from acts.xn1: the projection plus its bias (qkvBias), then with qkNorm
   * RMSNorm over each head (the projection kept in `raw`, its rstd [T·heads] in `rstd`).
   */
  private headsForward(
    out: number,
    raw: number,
    rstd: number,
    norm: number,
    heads: number,
    p: LayerParams,
    kind: 'wq' | 'wk',
    acts: LayerActs,
    train: boolean,
  ): void {
    const c = this.config,
      T = this.buffers!.T,
      hd = headDim(c),
      y = c.qkNorm ? raw : out;
    this.linearForward(y, acts.xn1, p, kind, T, acts, false, train);
    this.addBias(y, p.bias[kind], T, heads * hd);
    if (c.qkNorm) this.core.kernels.rmsnormForward(out, rstd, raw, norm, T * heads, hd, c.normEps);
  }

  /** Backward of headsForward: d(out) in dy becomes d(projection) in place; the norm's and the bias's gradients accumulate in train mode. */
  private headsBackward(
    dy: number,
    raw: number,
    rstd: number,
    norm: number,
    heads: number,
    p: LayerParams,
    kind: 'wq' | 'wk',
  ): void {
    const c = this.config,
      T = this.buffers!.T,
      hd = headDim(c);
    if (c.qkNorm) {
      const dw = p.grads[kind === 'wq' ? 'qNorm' : 'kNorm'];
      this.core.kernels.rmsnormBackward(
        dy,
        dw ?? this.buffers!.normGradSink,
        dy,
        raw,
        norm,
        rstd,
        T * heads,
        hd,
        dw !== undefined,
      );
    }
    this.biasBackward(p.grads[kind === 'wq' ? 'bq' : 'bk'], dy, T, heads * hd);
  }

  /** y[T, n] += bias[n] on every row (no bias: nothing). */
  private addBias(y: number, bias: number | undefined, T: number, n: number): void {
    if (bias === undefined) return;
    for (let r = 0; r < T; r++) this.core.kernels.axpy(y + r * n * 4, bias, n);
  }

  /** d(bias)[n] += Σ_rows dy[T, n], when the bias is trained. */
  private biasBackward(grad: number | undefined, dy: number, T: number, n: number): void {
    if (grad === undefined) return;
    for (let r = 0; r < T; r++) this.core.kernels.axpy(grad, dy + r * n * 4, n);
  }

  /**
   * out = res + x·Wᵀ (with LoRA) for the row-parallel linears; a model-parallel rank's product is
   * partial, so it is summed over the ranks (in b.dxn, free during forward) before the residual.
   */
  private residualLinear(
    out: number,
    res: number,
    x: number,
    p: LayerParams,
    kind: 'wo' | 'w2',
    T: number,
    acts: LayerActs,
    train: boolean,
  ): void {
    const D = this.config.dim,
      mp = this.modelParallel;
    if (!mp) {
      this.copy(out, res, T * D);
      this.linearForward(out, x, p, kind, T, acts, true, train);
      return;
    }
    const partial = this.buffers!.dxn;
    this.linearForward(partial, x, p, kind, T, acts, false, train);
    mp.sum(partial, T * D);
    this.copy(out, res, T * D);
    this.core.kernels.axpy(out, partial, T * D);
  }

  /**
   * Attention of layer l with a KV cache: the new keys and values go in at positions
   * cache.length.. ; a prompt (cache empty) attends causally to itself, a single token to the
   * whole cache.
   */
  private attendCached(l: number, acts: LayerActs, cache: KVCache): void {
    const c = this.config,
      k = this.core.kernels,
      { B, S } = this.buffers!,
      hd = headDim(c);
    const row = c.nKvHeads * hd * 4,
      pos = cache.length;
    for (let bi = 0; bi < B; bi++) {
      const dst = (bi * cache.capacity + pos) * row;
      this.copyBytes(cache.k[l] + dst, acts.k + bi * S * row, S * row);
      this.copyBytes(cache.v[l] + dst, acts.v + bi * S * row, S * row);
    }
    if (pos === 0) k.attentionForward(acts.att, acts.lse, acts.q, acts.k, acts.v, B, S, c.nHeads, c.nKvHeads, hd);
    else
      k.attentionDecode(acts.att, acts.q, cache.k[l], cache.v[l], B, c.nHeads, c.nKvHeads, hd, cache.capacity, pos + 1);
  }

  /** Backward of layer l: b.dres holds d(out) on entry and d(xin) on exit. */
  private layerBackward(l: number, acts: LayerActs): void {
    this.weights.fetchLayer(l);
    const c = this.config,
      k = this.core.kernels,
      b = this.buffers!,
      p = this.weights.layers[l];
    const { B, S, T } = b,
      D = c.dim,
      hd = headDim(c),
      F = c.ffnDim;
    // out = xmid + h·W2ᵀ
    this.linearBackward(b.dh, b.dres, acts.h, p, 'w2', T, acts, false);
    k.swigluBackward(b.dg, b.du, b.dh, acts.g, acts.u, T * F);
    this.linearBackward(b.dxn, b.dg, acts.xn2, p, 'w1', T, acts, false);
    this.linearBackward(b.dxn, b.du, acts.xn2, p, 'w3', T, acts, true);
    this.modelParallel?.sum(b.dxn, T * D); // each rank's share of the FFN gave part of d(xn2)
    this.normBackward(acts.xmid, p.ffnNorm, acts.rstd2, p.grads.ffnNorm); // dres = d(xmid)
    // xmid = xin + att·Woᵀ
    this.linearBackward(b.datt, b.dres, acts.att, p, 'wo', T, acts, false);
    k.attentionBackward(
      b.dq,
      b.dk,
      b.dv,
      b.datt,
      acts.q,
      acts.k,
      acts.v,
      acts.att,
      acts.lse,
      B,
      S,
      c.nHeads,
      c.nKvHeads,
      hd,
    );
    k.ropeApply(b.dq, b.rope, B, S, c.nHeads, hd, true);
    k.ropeApply(b.dk, b.rope, B, S, c.nKvHeads, hd, true);
    this.headsBackward(b.dq, acts.qRaw, acts.rstdQ, p.qNorm, c.nHeads, p, 'wq');
    this.headsBackward(b.dk, acts.kRaw, acts.rstdK, p.kNorm, c.nKvHeads, p, 'wk');
    this.biasBackward(p.grads.bv, b.dv, T, c.nKvHeads * hd);
    // Below layer 0 lies only the embedding: with it and the first norm frozen, d(xin) is not needed.
    const needInput = l > 0 || this.weights.embedGrad !== 0;
    const dxn = needInput ? b.dxn : null;
    this.linearBackward(dxn, b.dq, acts.xn1, p, 'wq', T, acts, false);
    this.linearBackward(dxn, b.dk, acts.xn1, p, 'wk', T, acts, true);
    this.linearBackward(dxn, b.dv, acts.xn1, p, 'wv', T, acts, true);
    if (!needInput) return;
    this.modelParallel?.sum(b.dxn, T * D); // each rank's heads gave part of d(xn1)
    this.normBackward(acts.xin, p.attnNorm, acts.rstd1, p.grads.attnNorm); // dres = d(xin)
  }

  /**
   * Adds to b.dres the gradient through a block's RMSNorm of x [T, D] (weight, rstd) whose
   * output's gradient is in b.dxn; the weight's gradient accumulates into `grad` when it is trained.
   */
  private normBackward(x: number, weight: number, rstd: number, grad: number | undefined): void {
    const k = this.core.kernels,
      b = this.buffers!,
      D = this.config.dim;
    k.rmsnormBackward(b.dtmp, grad ?? b.normGradSink, b.dxn, x, weight, rstd, b.T, D, grad !== undefined);
    k.axpy(b.dres, b.dtmp, b.T * D);
  }

  private copy(dst: number, src: number, floats: number): void {
    this.copyBytes(dst, src, floats * 4);
  }

  private copyBytes(dst: number, src: number, bytes: number): void {
    new Uint8Array(this.core.arena.memory.buffer).copyWithin(dst, src, src + bytes);
  }

  // ---------------------------------------------------------------------------------------
  // The step

  /**
   * The loss of a batch (and its logits, into `batch.logits` when given), without gradients.
   * @example
   * const { loss } = model.forward({ inputIds, batchSize: 2 }); // inputIds: [2, S + 1]
   */
  forward(batch: Batch): StepResult {
    return this.runBatch(batch, false);
  }

  /**
   * The loss of a batch, and its gradients added into every trainable tensor's (call
   * `weights.zeroGrads()` first to start from zero; leave it out to accumulate).
   * @example
   * model.weights.zeroGrads();
   * const { loss } = model.forwardBackward({ inputIds, labels, batchSize: 2 });
   */
  forwardBackward(batch: Batch): StepResult {
    return this.runBatch(batch, true);
  }

  private runBatch(batch: Batch, backward: boolean): StepResult {
    const { B, S } = batchShape(batch);
    try {
      return this.step(batch.inputIds, batch.labels ?? null, B, S, backward, batch.logits, batch.lossTokens);
    } catch (err) {
      if (batch.where === undefined) throw err;
      throw new Error(`${batch.where}: ${(err as Error).message}`);
    }
  }

  /**
   * Forward over inputIds [B, S+1] (and labels [B, S+1], or the ids themselves when null) into
   * the SPEC loss: tokens = ids[:, :-1], targets = labels[:, 1:], mask = (token != pad) &
   * (target != -100). With `backward`, gradients accumulate into the trainable tensors.
   * `logitsOut` [B·S, V], when given, receives every position's logits (for tests and tools).
   * `lossTokens` replaces Σmask as the divisor: data-parallel ranks pass the count over all
   * ranks, so that their losses and gradients sum to those of the whole batch.
   */
  step(
    inputIds: Int32Array,
    labels: Int32Array | null,
    B: number,
    S: number,
    backward: boolean,
    logitsOut?: Float32Array,
    lossTokens?: number,
  ): StepResult {
    const c = this.config,
      k = this.core.kernels,
      arena = this.core.arena;
    if (inputIds.length !== B * (S + 1))
      throw new Error(`input_ids has ${inputIds.length} ids, expected ${B}x${S + 1}`);
    if (labels && labels.length !== inputIds.length)
      throw new Error(`labels has ${labels.length} entries, expected ${inputIds.length}`);
    this.checkWindow(S);
    const b = this.prepare(B, S),
      T = b.T,
      D = c.dim,
      V = c.vocabSize;
    // Inputs and loss targets.
    const ids = arena.i32(b.ids, T),
      targets = arena.i32(b.targets, T);
    let count = 0;
    for (let r = 0; r < B; r++) {
      for (let s = 0; s < S; s++) {
        const tok = inputIds[r * (S + 1) + s],
          tgt = (labels ?? inputIds)[r * (S + 1) + s + 1];
        if (!(tok >= 0 && tok < V)) throw new Error(`input_ids[${r}][${s}] = ${tok} is outside the vocabulary of ${V}`);
        const valid = counts(tok, tgt, c.padId);
        if (valid && !(tgt >= 0 && tgt < V))
          throw new Error(`labels[${r}][${s + 1}] = ${tgt} is outside the vocabulary of ${V}`);
        ids[r * S + s] = tok;
        targets[r * S + s] = valid ? tgt : -1;
        if (valid) count++;
      }
    }
    const lossScale = 1 / ((lossTokens ?? count) + 1e-8);
    const w = this.weights;
    k.embeddingGather(b.layers[0].xin, w.embed.ptr, w.embed.scale, b.ids, T, D, w.embed.wt);
    // Blocks.
    if (backward) this.stepCount++;
    for (let l = 0; l < c.nLayers; l++) {
      const acts = b.layers[l];
      if (backward) this.drawDropout(l, acts, T);
      this.layerForward(l, acts, l + 1 < c.nLayers ? b.layers[l + 1].xin : b.xL, backward);
    }
    // Final norm, then the classifier and loss in chunks of rows (logits never all at once).
    // Rows whose target is masked add nothing to the loss or the gradients: unless every
    // position's logits are wanted, only the counted rows go through the head (in fine-tuning
    // on conversations most positions are prompt or padding).
    k.rmsnormForward(b.xf, b.rstdf, b.xL, w.norm, T, D, c.normEps);
    let rows = T,
      xfRows = b.xf,
      tgRows = b.targets;
    if (!logitsOut && count < T) {
      rows = this.compactRows(b, T, D);
      xfRows = b.dtmp;
      tgRows = b.validTargets;
    }
    const chunk = b.logitsRows;
    let lossSum = 0;
    for (let r0 = 0; r0 < rows; r0 += chunk) {
      const n = Math.min(chunk, rows - r0),
        xf = xfRows + r0 * D * 4,
        tg = tgRows + r0 * 4;
      k.matmulXWt(b.logits, xf, w.head.ptr, w.head.scale, n, V, D, w.head.wt);
      if (logitsOut) logitsOut.set(arena.f32(b.logits, n * V), r0 * V);
      if (backward) k.crossEntropyForwardBackward(b.rowLoss, b.rowLse, b.logits, tg, n, V, lossScale);
      else k.crossEntropyForward(b.rowLoss, b.rowLse, b.logits, tg, n, V);
      const rl = arena.f32(b.rowLoss, n);
      for (let i = 0; i < n; i++) lossSum += rl[i];
      if (!backward) continue;
      k.matmulDyW(b.dxn + r0 * D * 4, b.logits, w.head.ptr, w.head.scale, n, V, D, w.head.wt); // d(xf)
      if (w.headGrad) k.matmulDyTX(w.headGrad, b.logits, xf, n, V, D, true);
    }
    if (backward && rows < T) this.expandRows(b, rows, T, D);
    const loss = Math.fround(lossSum * lossScale);
    if (!backward) return { loss, tokens: count };
    // Backward through the final norm and the blocks.
    k.rmsnormBackward(b.dres, w.normGrad || b.normGradSink, b.dxn, b.xL, w.norm, b.rstdf, T, D, w.normGrad !== 0);
    for (let l = c.nLayers - 1; l >= 0; l--) {
      const acts = b.layers[l];
      if (this.options.recompute) {
        this.drawDropout(l, acts, T);
        this.layerForward(l, acts, b.dtmp, true); // the output itself is not needed again
      }
      this.layerBackward(l, acts);
    }
    if (w.embedGrad) k.embeddingScatterAdd(w.embedGrad, b.dres, b.ids, T, D);
    return { loss, tokens: count };
  }

  /**
   * Copies the final-norm rows with a counted target to the front of b.dtmp and their targets to
   * b.validTargets, remembering which rows they were; returns how many.
   */
  private compactRows(b: StepBuffers, T: number, D: number): number {
    const arena = this.core.arena,
      targets = arena.i32(b.targets, T),
      valid = arena.i32(b.validTargets, T);
    let n = 0;
    for (let r = 0; r < T; r++) {
      if (targets[r] < 0) continue;
      this.copy(b.dtmp + n * D * 4, b.xf + r * D * 4, D);
      valid[n++] = targets[r];
    }
    return n;
  }

  /** Spreads the n compact rows of d(xf) in b.dxn back to their positions, zero elsewhere. */
  private expandRows(b: StepBuffers, n: number, T: number, D: number): void {
    const arena = this.core.arena,
      targets = arena.i32(b.targets, T);
    let i = n;
    // From the end: a row's compact index is never above its position, so nothing is overwritten early.
    for (let r = T - 1; r >= 0; r--) {
      if (targets[r] >= 0) this.copy(b.dxn + r * D * 4, b.dxn + --i * D * 4, D);
      else arena.f32(b.dxn + r * D * 4, D).fill(0);
    }
  }

  // ---------------------------------------------------------------------------------------
  // Decoding

  /** Refuses a sequence of S positions longer than the sliding window (within it the window changes nothing). */
  private checkWindow(S: number): void {
    const w = this.config.slidingWindow;
    if (w !== undefined && S > w)
      throw new Error(
        `a sequence of ${S} positions is longer than the model's sliding_window of ${w}; sliding-window attention is not implemented, so use sequences of at most ${w}`,
      );
  }

  /** A KV cache for B sequences of up to `capacity` positions. */
  newCache(B: number, capacity: number): KVCache {
    const c = this.config,
      arena = this.core.arena,
      bytes = B * capacity * c.nKvHeads * headDim(c) * 4;
    const cache: KVCache = { B, capacity, length: 0, k: [], v: [] };
    for (let l = 0; l < c.nLayers; l++) {
      cache.k.push(arena.alloc(bytes));
      cache.v.push(arena.alloc(bytes));
    }
    return cache;
  }

  /**
   * Runs ids [B, S] through the model at positions cache.length.. (a prompt into an empty
   * cache, or one token per sequence after it) and returns the last position's logits [B, V].
   */
  forwardCached(cache: KVCache, ids: Int32Array, S: number): Float32Array {
    const c = this.config,
      k = this.core.kernels,
      arena = this.core.arena,
      B = cache.B,
      D = c.dim,
      V = c.vocabSize;
    if (ids.length !== B * S) throw new Error(`forwardCached: ${ids.length} ids for ${B}x${S}`);
    if (cache.length > 0 && S !== 1)
      throw new Error('after the prompt, decoding takes one token per sequence at a time');
    if (cache.length + S > cache.capacity)
      throw new Error(`the KV cache holds ${cache.capacity} positions; ${cache.length + S} needed`);
    this.checkWindow(cache.length + S);
    const b = this.prepare(B, S, cache.length),
      w = this.weights;
    const idv = arena.i32(b.ids, B * S);
    for (let i = 0; i < ids.length; i++) {
      if (!(ids[i] >= 0 && ids[i] < V)) throw new Error(`token id ${ids[i]} is outside the vocabulary of ${V}`);
      idv[i] = ids[i];
    }
    k.embeddingGather(b.layers[0].xin, w.embed.ptr, w.embed.scale, b.ids, b.T, D, w.embed.wt);
    this.generating = true;
    try {
      for (let l = 0; l < c.nLayers; l++)
        this.layerForward(l, b.layers[l], l + 1 < c.nLayers ? b.layers[l + 1].xin : b.xL, false, cache);
    } finally {
      this.generating = false;
    }
    cache.length += S;
    // Only each sequence's last row goes through the final norm and the head.
    for (let bi = 0; bi < B; bi++) this.copy(b.dxn + bi * D * 4, b.xL + ((bi + 1) * S - 1) * D * 4, D);
    k.rmsnormForward(b.xf, b.rstdf, b.dxn, w.norm, B, D, c.normEps);
    const out = new Float32Array(B * V);
    for (let r0 = 0; r0 < B; r0 += b.logitsRows) {
      const n = Math.min(b.logitsRows, B - r0);
      this.generationProduct(b.logits, b.xf + r0 * D * 4, w.head, n, false);
      out.set(arena.f32(b.logits, n * V), r0 * V);
    }
    return out;
  }
}

/** Keys and values of every layer for B sequences: k[l], v[l] point at [B, capacity, KVH, hd]. */
export interface KVCache {
  B: number;
  capacity: number;
  /** positions filled so far */
  length: number;
  k: number[];
  v: number[];
}
