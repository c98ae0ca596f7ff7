/**
 * Batched decoding for serving: many sequences, each with its own KV cache, position and LoRA
 * adapter (or none), advance one token each in one step. The linears of a step are one product
 * over all rows (matmulXWtRows: the weights are read once for the batch, where one sequence alone
 * reads them once per token); attention, RoPE and each adapter's low-rank path run per sequence.
 * Every row's arithmetic is what LlamaModel.forwardCached does for that sequence alone, so a
 * batch gives each sequence bit for bit the logits it would get decoding by itself.
 *
 * KV caches come from a pool of `maxRows` slots of `capacity` positions allocated up front: a
 * sequence takes a slot when it opens and gives it back when it closes, so memory stays bounded
 * however many requests come and go.
 *
 * Shapes: R rows in a step (one per sequence when decoding, the prompt's positions when
 * prefilling one sequence); D hidden, H and KVH heads of hd, F the FFN size, V the vocabulary.
 */
import { headDim } from './config.ts';
import type { LlamaModel } from './llama.ts';
import { linearShape, type LinearKind } from './lora.ts';
import type { LoraFactors, ServedAdapter } from './adapters.ts';
import type { LayerParams } from './weights.ts';
import { DECODE_ROW_INTS } from '../runtime/kernels.ts';

/** A sequence being decoded: its cache slot, the positions filled and its adapter. */
export interface DecodeSequence {
  readonly slot: number;
  /** positions in its cache so far */
  length: number;
  readonly adapter?: ServedAdapter;
}

/** One row of a decoding step: a sequence and the token it takes next. */
export interface DecodeRow {
  seq: DecodeSequence;
  token: number;
}

/** Activation buffers of a step (arena offsets), for as many rows as the larger of the batch and a prompt can have. */
interface Buffers {
  x: number;
  xn: number;
  rstd: number;
  q: number;
  k: number;
  v: number;
  qRaw: number;
  kRaw: number;
  rstdQ: number;
  rstdK: number;
  att: number;
  lse: number;
  xmid: number;
  g: number;
  u: number;
  h: number;
  t: number;
  rope: number;
  ids: number;
  /** the decoding rows of a step for attentionDecodeRows: q, o, kc, vc, T each */
  attnRows: number;
  last: number;
  xf: number;
  rstdf: number;
  logits: number;
}

/** A pool of KV caches over one model, and the batched step that uses them. */
export class BatchDecoder {
  private readonly buffers: Buffers;
  /** per slot, per layer: the k and v caches [capacity, KVH, hd] */
  private readonly slots: { k: number[]; v: number[] }[] = [];
  private readonly freeSlots: number[] = [];

  /**
   * Allocates `maxRows` cache slots of `capacity` positions and the step buffers (a prompt of up
   * to `capacity` tokens prefills in one pass); `maxRank` bounds the adapters' ranks.
   */
  constructor(
    readonly model: LlamaModel,
    readonly maxRows: number,
    readonly capacity: number,
    readonly maxRank = 64,
  ) {
    const c = model.config,
      arena = model.core.arena,
      hd = headDim(c),
      kv = c.nKvHeads * hd;
    if (capacity > c.maxSeqLen)
      throw new Error(`a KV cache of ${capacity} positions is longer than the model's ${c.maxSeqLen}`);
    for (let s = 0; s < maxRows; s++) {
      const slot = { k: [] as number[], v: [] as number[] };
      for (let l = 0; l < c.nLayers; l++) {
        slot.k.push(arena.alloc(capacity * kv * 4));
        slot.v.push(arena.alloc(capacity * kv * 4));
      }
      this.slots.push(slot);
      this.freeSlots.push(maxRows - 1 - s);
    }
    const T = Math.max(maxRows, capacity),
      D = c.dim,
      Hq = c.nHeads * hd,
      f = (n: number) => arena.alloc(n * 4);
    this.buffers = {
      x: f(T * D),
      xn: f(T * D),
      rstd: f(T),
      q: f(T * Hq),
      k: f(T * kv),
      v: f(T * kv),
      qRaw: c.qkNorm ? f(T * Hq) : 0,
      kRaw: c.qkNorm ? f(T * kv) : 0,
      rstdQ: c.qkNorm ? f(T * c.nHeads) : 0,
      rstdK: c.qkNorm ? f(T * c.nKvHeads) : 0,
      att: f(T * Hq),
      lse: f(c.nHeads * T),
      xmid: f(T * D),
      g: f(T * c.ffnDim),
      u: f(T * c.ffnDim),
      h: f(T * c.ffnDim),
      t: f(T * maxRank),
      rope: f(T * hd),
      ids: f(T),
      attnRows: f(maxRows * DECODE_ROW_INTS),
      last: f(maxRows * D),
      xf: f(maxRows * D),
      rstdf: f(maxRows),
      logits: f(maxRows * c.vocabSize),
    };
  }

  /** Cache slots not in use. */
  get free(): number {
    return this.freeSlots.length;
  }

  /** Opens a sequence on a free cache slot, decoding with `adapter` (none: the base). */
  open(adapter?: ServedAdapter): DecodeSequence {
    const slot = this.freeSlots.pop();
    if (slot === undefined) throw new Error(`all ${this.maxRows} KV cache slots are in use`);
    for (const layer of adapter?.layers ?? []) {
      for (const f of Object.values(layer))
        if (f!.rank > this.maxRank)
          throw new Error(
            `adapter ${adapter!.name} has rank ${f!.rank}, more than the ${this.maxRank} this decoder holds`,
          );
    }
    return { slot, length: 0, adapter };
  }

  /** Gives a sequence's cache slot back (its cache is then free for the next sequence). */
  close(seq: DecodeSequence): void {
    if (this.freeSlots.includes(seq.slot)) throw new Error(`cache slot ${seq.slot} is already free`);
    this.freeSlots.push(seq.slot);
  }

  /** Runs a prompt into an empty sequence's cache and returns the last position's logits [V]. */
  prefill(seq: DecodeSequence, ids: readonly number[]): Float32Array {
    if (seq.length !== 0) throw new Error('prefill needs an empty sequence');
    if (ids.length === 0) throw new Error('prefill needs a prompt of at least one token');
    return this.forward([{ seq, ids }], false);
  }

  /** One decoding step: each row's token goes in at its sequence's next position; returns logits [rows, V]. */
  decodeBatch(rows: readonly DecodeRow[]): Float32Array {
    if (rows.length > this.maxRows)
      throw new Error(`a step of ${rows.length} rows; this decoder takes ${this.maxRows}`);
    if (new Set(rows.map((r) => r.seq.slot)).size !== rows.length)
      throw new Error('a sequence appears twice in one decoding step');
    return this.forward(
      rows.map((r) => ({ seq: r.seq, ids: [r.token] })),
      true,
    );
  }

  /** The forward of segments (one prompt, or one token per sequence) into each segment's last logits. */
  private forward(segs: { seq: DecodeSequence; ids: readonly number[] }[], batched: boolean): Float32Array {
    const m = this.model,
      c = m.config,
      k = m.core.kernels,
      arena = m.core.arena,
      b = this.buffers,
      w = m.weights;
    const D = c.dim,
      V = c.vocabSize,
      hd = headDim(c);
    const T = segs.reduce((n, s) => n + s.ids.length, 0);
    const ids = arena.i32(b.ids, T);
    let r = 0;
    for (const s of segs) {
      if (s.seq.length + s.ids.length > this.capacity)
        throw new Error(`the KV cache holds ${this.capacity} positions; ${s.seq.length + s.ids.length} needed`);
      for (const id of s.ids) {
        if (!(Number.isInteger(id) && id >= 0 && id < V))
          throw new Error(`token id ${id} is outside the vocabulary of ${V}`);
        ids[r++] = id;
      }
    }
    // RoPE tables of each segment's positions, row-aligned with the activations.
    r = 0;
    for (const s of segs) {
      k.ropeTable(b.rope + r * hd * 4, s.ids.length, hd, c.ropeTheta, s.seq.length, c.ropeScaling);
      r += s.ids.length;
    }
    k.embeddingGather(b.x, w.embed.ptr, w.embed.scale, b.ids, T, D, w.embed.wt);
    for (let l = 0; l < c.nLayers; l++) this.layer(l, segs, T, batched);
    // Each segment's last row through the final norm and the head.
    r = 0;
    segs.forEach((s, i) => {
      r += s.ids.length;
      this.copy(b.last + i * D * 4, b.x + (r - 1) * D * 4, D);
      s.seq.length += s.ids.length;
    });
    const n = segs.length;
    k.rmsnormForward(b.xf, b.rstdf, b.last, w.norm, n, D, c.normEps);
    this.model.generationProduct(b.logits, b.xf, w.head, n, batched);
    return Float32Array.from(arena.f32(b.logits, n * V));
  }

  /** Layer l over the step's rows, b.x in and out. */
  private layer(l: number, segs: { seq: DecodeSequence; ids: readonly number[] }[], T: number, batched: boolean): void {
    const m = this.model,
      c = m.config,
      k = m.core.kernels,
      b = this.buffers;
    m.weights.fetchLayer(l);
    const p = m.weights.layers[l],
      D = c.dim,
      hd = headDim(c),
      F = c.ffnDim,
      kv = c.nKvHeads * hd;
    k.rmsnormForward(b.xn, b.rstd, b.x, p.attnNorm, T, D, c.normEps);
    this.heads(b.q, b.qRaw, b.rstdQ, p.qNorm, c.nHeads, p, 'wq', l, segs, T, batched);
    this.heads(b.k, b.kRaw, b.rstdK, p.kNorm, c.nKvHeads, p, 'wk', l, segs, T, batched);
    this.adapted(b.v, b.xn, p, 'wv', l, segs, T, batched, false);
    this.addBias(b.v, p.bias.wv, T, kv);
    // every row at its own position: the tables are row-aligned with q and k, so one call each
    k.ropeApply(b.q, b.rope, 1, T, c.nHeads, hd);
    k.ropeApply(b.k, b.rope, 1, T, c.nKvHeads, hd);
    // A prompt attends over itself; the decoding rows (one token each, past their prompts) over
    // their caches, all in one call.
    const rows = this.model.core.arena.i32(b.attnRows, segs.length * DECODE_ROW_INTS);
    let r = 0,
      n = 0;
    for (const s of segs) {
      const S = s.ids.length,
        pos = s.seq.length,
        slot = this.slots[s.seq.slot];
      const q = b.q + r * c.nHeads * hd * 4,
        kk = b.k + r * kv * 4,
        vv = b.v + r * kv * 4;
      this.copyBytes(slot.k[l] + pos * kv * 4, kk, S * kv * 4);
      this.copyBytes(slot.v[l] + pos * kv * 4, vv, S * kv * 4);
      const att = b.att + r * c.nHeads * hd * 4;
      if (pos === 0) k.attentionForward(att, b.lse, q, kk, vv, 1, S, c.nHeads, c.nKvHeads, hd);
      else rows.set([q, att, slot.k[l], slot.v[l], pos + 1], n++ * DECODE_ROW_INTS);
      r += S;
    }
    if (n > 0) k.attentionDecodeRows(b.attnRows, rows.subarray(0, n * DECODE_ROW_INTS), c.nHeads, c.nKvHeads, hd);
    this.copy(b.xmid, b.x, T * D);
    this.adapted(b.xmid, b.att, p, 'wo', l, segs, T, batched, true); // xmid = x + att·Woᵀ
    k.rmsnormForward(b.xn, b.rstd, b.xmid, p.ffnNorm, T, D, c.normEps);
    this.adapted(b.g, b.xn, p, 'w1', l, segs, T, batched, false);
    this.adapted(b.u, b.xn, p, 'w3', l, segs, T, batched, false);
    k.swigluForward(b.h, b.g, b.u, T * F);
    this.copy(b.x, b.xmid, T * D);
    this.adapted(b.x, b.h, p, 'w2', l, segs, T, batched, true); // x = xmid + h·W2ᵀ
  }

  /** q or k from b.xn: projection (with adapters), bias, then with qkNorm each head's RMSNorm. */
  private heads(
    out: number,
    raw: number,
    rstd: number,
    norm: number,
    heads: number,
    p: LayerParams,
    kind: 'wq' | 'wk',
    l: number,
    segs: { seq: DecodeSequence; ids: readonly number[] }[],
    T: number,
    batched: boolean,
  ): void {
    const c = this.model.config,
      hd = headDim(c),
      y = c.qkNorm ? raw : out;
    this.adapted(y, this.buffers.xn, p, kind, l, segs, T, batched, false);
    this.addBias(y, p.bias[kind], T, heads * hd);
    if (c.qkNorm) this.model.core.kernels.rmsnormForward(out, rstd, raw, norm, T * heads, hd, c.normEps);
  }

  /** y[T,out] (+)= x·Wᵀ over every row, then each segment's adapter adds scale·(x·Aᵀ)·Bᵀ to its rows. */
  private adapted(
    y: number,
    x: number,
    p: LayerParams,
    kind: LinearKind,
    l: number,
    segs: { seq: DecodeSequence; ids: readonly number[] }[],
    T: number,
    batched: boolean,
    accumulate: boolean,
  ): void {
    const k = this.model.core.kernels,
      W = p.linear[kind],
      [out, inn] = linearShape(this.model.config, kind),
      t = this.buffers.t;
    this.model.generationProduct(y, x, W, T, batched, accumulate);
    let r = 0;
    for (const s of segs) {
      const S = s.ids.length,
        f: LoraFactors | undefined = s.seq.adapter?.layers[l][kind];
      if (f) {
        k.matmulXWt(t, x + r * inn * 4, f.a, 0, S, f.rank, inn, 0);
        k.scale(t, S * f.rank, f.scale);
        k.matmulXWt(y + r * out * 4, t, f.b, 0, S, out, f.rank, 0, true);
      }
      r += S;
    }
  }

  /** y[T, n] += bias[n] on every row (no bias: nothing). */
  private addBias(y: number, bias: number | undefined, T: number, n: number): void {
    if (bias === undefined) return;
    for (let r = 0; r < T; r++) this.model.core.kernels.axpy(y + r * n * 4, bias, n);
  }

  private copy(dst: number, src: number, floats: number): void {
    this.copyBytes(dst, src, floats * 4);
  }

  private copyBytes(dst: number, src: number, bytes: number): void {
    new Uint8Array(this.model.core.arena.memory.buffer).copyWithin(dst, src, src + bytes);
  }
}
