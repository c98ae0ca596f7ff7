/**
 * Typed calls into the core. Every argument named like a tensor is a byte offset into the
 * core's memory (from its Arena); shapes are in the doc comments, row-major. Kernels may write
 * an output over an input only where the doc says so.
 */

import type { Llama3RopeScaling } from '../model/config.ts';
import type { Slice, ThreadPool } from './pool.ts';

/**
 * How frozen weights are stored: f32, bf16 (upper half of f32), int8 with an f32 scale per row,
 * llama.cpp's blocks of 32 with an f16 scale, Q8_0 (34 bytes a block), Q4_0 (18 bytes) and Q5_0
 * (22 bytes), or with an f16 scale and min, Q4_1 (20 bytes) and Q5_1 (24 bytes), or its
 * super-blocks of 256, Q4_K (144 bytes), Q6_K (210 bytes), Q5_K (176 bytes) and Q3_K (110 bytes;
 * read from GGUF files only: nothing here quantizes to it).
 */
export enum WeightType {
  F32 = 0,
  BF16 = 1,
  I8 = 2,
  Q8_0 = 3,
  Q4_0 = 4,
  Q4_K = 5,
  Q6_K = 6,
  Q5_0 = 7,
  Q5_K = 8,
  Q4_1 = 9,
  Q5_1 = 10,
  Q3_K = 11,
}

/** Bytes per element of a weight type (fractional for the block types, whose rows are whole blocks). */
export function weightBytes(wt: WeightType): number {
  return [4, 2, 1, 34 / 32, 18 / 32, 144 / 256, 210 / 256, 22 / 32, 176 / 256, 20 / 32, 24 / 32, 110 / 256][wt];
}

/** Whether a weight type is one of llama.cpp's blocks (rows must be whole blocks, see blockValues). */
export function isBlockType(wt: WeightType): boolean {
  return wt >= WeightType.Q8_0 && wt <= WeightType.Q3_K;
}

/** Values per block of a weight type: 256 for Q4_K, Q5_K, Q6_K and Q3_K, 32 for Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1, 1 otherwise. */
export function blockValues(wt: WeightType): number {
  const superBlock =
    wt === WeightType.Q4_K || wt === WeightType.Q5_K || wt === WeightType.Q6_K || wt === WeightType.Q3_K;
  return superBlock ? 256 : isBlockType(wt) ? 32 : 1;
}

/** Throws unless `n` values are whole blocks of `wt` (the block kernels would leave the rest out). */
function wholeBlocks(n: number, wt: WeightType): void {
  if (n % blockValues(wt) !== 0)
    throw new RangeError(`${WeightType[wt]} takes whole blocks of ${blockValues(wt)} values, not ${n}`);
}

/** The largest head dimension the attention kernels take (their block scratch is sized for it). */
export const MAX_HEAD_DIM = 256;
/** The longest cache one decoding step reads (its scores live in the core's workspace). */
export const MAX_DECODE_POSITIONS = 131072;

/** int32 values a row of attentionDecodeRows's table takes: q, o, kc, vc (byte offsets) and T. */
export const DECODE_ROW_INTS = 5;

/** The raw exports of the WASM core (see assembly/index.ts); booleans are passed as 0 or 1. */
export interface CoreExports {
  heap_base(): number;
  workspace_bytes(): number;
  set_workspace(ptr: number): void;
  gemm(
    c: number,
    ldc: number,
    a: number,
    ars: number,
    aps: number,
    b: number,
    bks: number,
    bns: number,
    wt: number,
    scale: number,
    scaleByCol: number,
    M: number,
    N: number,
    K: number,
    acc: number,
  ): void;
  matmul_xwt(
    y: number,
    ldy: number,
    x: number,
    w: number,
    scale: number,
    M: number,
    N: number,
    K: number,
    wt: number,
    acc: number,
  ): void;
  matmul_xwt_rows(
    y: number,
    ldy: number,
    x: number,
    w: number,
    scale: number,
    M: number,
    N: number,
    K: number,
    wt: number,
    acc: number,
  ): void;
  matmul_dyw(
    dx: number,
    dy: number,
    w: number,
    scale: number,
    M: number,
    N: number,
    K: number,
    wt: number,
    acc: number,
  ): void;
  rmsnorm_fwd(y: number, rstd: number, x: number, w: number, rows: number, dim: number, eps: number): void;
  rmsnorm_bwd(
    dx: number,
    dw: number,
    dy: number,
    x: number,
    w: number,
    rstd: number,
    rows: number,
    dim: number,
    acc: number,
  ): void;
  rope_table(
    tab: number,
    S: number,
    D: number,
    theta: number,
    offset: number,
    factor: number,
    low: number,
    high: number,
    original: number,
  ): void;
  rope_apply(x: number, tab: number, B: number, S: number, H: number, D: number, inverse: number): void;
  swiglu_fwd(h: number, g: number, u: number, n: number): void;
  swiglu_bwd(dg: number, du: number, dh: number, g: number, u: number, n: number): void;
  attention_fwd(
    o: number,
    lse: number,
    q: number,
    k: number,
    v: number,
    B: number,
    S: number,
    H: number,
    KVH: number,
    D: number,
    h0: number,
    h1: number,
  ): void;
  attention_bwd(
    dq: number,
    dk: number,
    dv: number,
    dout: number,
    q: number,
    k: number,
    v: number,
    o: number,
    lse: number,
    B: number,
    S: number,
    H: number,
    KVH: number,
    D: number,
    h0: number,
    h1: number,
  ): void;
  attention_decode(
    o: number,
    q: number,
    kc: number,
    vc: number,
    B: number,
    H: number,
    KVH: number,
    D: number,
    Tmax: number,
    T: number,
    h0: number,
    h1: number,
  ): void;
  attention_decode_rows(tab: number, H: number, KVH: number, D: number, u0: number, u1: number): void;
  ce_fwd(loss: number, lse: number, logits: number, targets: number, rows: number, V: number): void;
  ce_fwd_bwd(loss: number, lse: number, logits: number, targets: number, rows: number, V: number, scale: number): void;
  embedding_gather(out: number, table: number, scale: number, ids: number, n: number, dim: number, wt: number): void;
  embedding_scatter_add(dtable: number, dout: number, ids: number, n: number, dim: number): void;
  adamw(
    p: number,
    g: number,
    m: number,
    v: number,
    n: number,
    lr: number,
    b1: number,
    b2: number,
    eps: number,
    wd: number,
    bc1: number,
    bc2: number,
  ): void;
  sumsq(x: number, n: number): number;
  scale(x: number, n: number, s: number): void;
  axpy(y: number, x: number, n: number, a: number): void;
  vmul(y: number, a: number, b: number, n: number): void;
  quantize_rows_i8(q: number, scale: number, w: number, rows: number, cols: number): void;
  quantize_blocks(dst: number, src: number, n: number, qt: number): void;
  matmul_xwt_q(
    y: number,
    ldy: number,
    x: number,
    w: number,
    M: number,
    N: number,
    K: number,
    qt: number,
    acc: number,
  ): void;
  /** matmul_xwt_q's call, with x rounded to int8 per block (of 32 for Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1, of 256 for Q4_K, Q5_K, Q6_K and Q3_K) */
  matmul_xwt_qa: CoreExports['matmul_xwt_q'];
  matmul_dyw_q(dx: number, dy: number, w: number, M: number, N: number, K: number, qt: number, acc: number): void;
  dequantize_rows_q(dst: number, w: number, rows: number, K: number, qt: number): void;
  embedding_gather_q(out: number, table: number, ids: number, n: number, dim: number, qt: number): void;
  f32_to_bf16(dst: number, src: number, n: number): void;
  bf16_to_f32(dst: number, src: number, n: number): void;
  fma_peak(iters: number): number;
  copy_bytes(dst: number, src: number, bytes: number): void;
}

/** AdamW hyper-parameters for one step; bc1 and bc2 are the bias corrections (1 for none). */
export interface AdamWStep {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  bc1: number;
  bc2: number;
}

/**
 * Work below which a call runs on the calling thread alone (waking the others costs microseconds),
 * counted in multiply-adds: an exponential counts one, a plain vector operation a quarter.
 */
const MIN_SPLIT_WORK = 1 << 17;

/** Calls a slice's export on `core`. */
export function runSlice(core: CoreExports, slice: Slice): void {
  (core[slice.fn] as (...args: number[]) => void)(...slice.args);
}

/** [start, end) spans that cut 0..n into at most `parts` pieces whose starts are multiples of `align`. */
function spans(n: number, parts: number, align: number): [number, number][] {
  const size = Math.ceil(Math.ceil(n / parts) / align) * align;
  const out: [number, number][] = [];
  for (let start = 0; start < n; start += size) out.push([start, Math.min(n, start + size)]);
  return out;
}

/**
 * The kernels of one core instance. With a thread pool, the large calls are cut into slices
 * that run at once, each on its own thread: products by output columns (or rows where the
 * columns are few), attention by heads, the loss and the elementwise kernels by rows. Every
 * output element is computed by the same operations in the same order as on one thread (slices
 * start on the SIMD and tile boundaries), so the results are bit for bit the same.
 */
export class Kernels {
  constructor(
    private readonly core: CoreExports,
    private readonly pool?: ThreadPool,
  ) {}

  /**
   * Runs a call over `n` independent units (rows, columns, heads, elements) given as slices:
   * `slice(start, end)` is the call for units [start, end). A call of at least MIN_SPLIT_WORK
   * goes to the pool cut at multiples of `align` into pieces of at least `least` units; any
   * other runs here as slice(0, n), which is the whole call.
   */
  private cut(
    work: number,
    n: number,
    align: number,
    slice: (start: number, end: number) => Slice,
    least = align,
  ): void {
    const parts = this.pool && work >= MIN_SPLIT_WORK ? Math.min(this.pool.threads, Math.floor(n / least)) : 1;
    if (parts > 1) this.pool!.run(spans(n, parts, align).map(([start, end]) => slice(start, end)));
    else runSlice(this.core, slice(0, n));
  }

  /** y[M,N] (+)= x[M,K]·w[N,K]ᵀ; w stored as `wt`, with `scale`[N] for int8 (pass 0 otherwise). */
  matmulXWt(
    y: number,
    x: number,
    w: number,
    scale: number,
    M: number,
    N: number,
    K: number,
    wt: WeightType,
    accumulate = false,
  ): void {
    if (isBlockType(wt)) return this.blockProduct('matmul_xwt_q', y, x, w, M, N, K, wt, accumulate);
    const acc = accumulate ? 1 : 0,
      rowBytes = K * weightBytes(wt);
    this.cut(M * N * K, N, 16, (n0, n1) => ({
      fn: 'matmul_xwt',
      args: [y + n0 * 4, N, x, w + n0 * rowBytes, scale && scale + n0 * 4, M, n1 - n0, K, wt, acc],
    }));
  }

  /** y[M,N] (+)= x[M,K]·w[N,K]ᵀ over a block type by `fn`, cut by output columns (rows of whole blocks only). */
  private blockProduct(
    fn: 'matmul_xwt_q' | 'matmul_xwt_qa',
    y: number,
    x: number,
    w: number,
    M: number,
    N: number,
    K: number,
    wt: WeightType,
    accumulate: boolean,
  ): void {
    wholeBlocks(K, wt);
    const acc = accumulate ? 1 : 0,
      rowBytes = K * weightBytes(wt);
    this.cut(M * N * K, N, 16, (n0, n1) => ({
      fn,
      args: [y + n0 * 4, N, x, w + n0 * rowBytes, M, n1 - n0, K, wt, acc],
    }));
  }

  /**
   * y[M,N] (+)= x[M,K]·w[N,K]ᵀ as generation computes it over llama.cpp's block types: x is
   * rounded to int8 per block (of 32 values for Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1, qact.ts; of 256 for Q4_K, Q5_K, Q6_K and Q3_K,
   * kqact.ts: llama.cpp's way, about 0.4% of the block's largest activation) and the products
   * are integer; only those types (isBlockType). A row gives the same bits alone or among
   * others, so batched decoding steps call this with all their rows. The blocks' f16 scales must
   * be finite (read as finite halves; LlamaWeights refuses others as they are stored).
   */
  matmulXWtInt8(
    y: number,
    x: number,
    w: number,
    M: number,
    N: number,
    K: number,
    wt: WeightType,
    accumulate = false,
  ): void {
    if (!isBlockType(wt))
      throw new RangeError(`int8-activation products take block-quantized weights, not ${WeightType[wt]}`);
    this.blockProduct('matmul_xwt_qa', y, x, w, M, N, K, wt, accumulate);
  }

  /**
   * y[M,N] (+)= x[M,K]·w[N,K]ᵀ for a batched decoding step of M sequences: the weights are read
   * once for all rows, and each row's result is bit-identical to matmulXWt of that row alone.
   * Block-quantized weights have no row kernel: each row goes through the one-row
   * product, so it still gets the same bits.
   */
  matmulXWtRows(
    y: number,
    x: number,
    w: number,
    scale: number,
    M: number,
    N: number,
    K: number,
    wt: WeightType,
    accumulate = false,
  ): void {
    if (isBlockType(wt)) {
      for (let m = 0; m < M; m++) this.matmulXWt(y + m * N * 4, x + m * K * 4, w, scale, 1, N, K, wt, accumulate);
      return;
    }
    const acc = accumulate ? 1 : 0,
      rowBytes = K * weightBytes(wt);
    this.cut(M * N * K, N, 16, (n0, n1) => ({
      fn: 'matmul_xwt_rows',
      args: [y + n0 * 4, N, x, w + n0 * rowBytes, scale && scale + n0 * 4, M, n1 - n0, K, wt, acc],
    }));
  }

  /** dx[M,K] (+)= dy[M,N]·w[N,K]; w stored as `wt`, with `scale`[N] for int8. */
  matmulDyW(
    dx: number,
    dy: number,
    w: number,
    scale: number,
    M: number,
    N: number,
    K: number,
    wt: WeightType,
    accumulate = false,
  ): void {
    const acc = accumulate ? 1 : 0;
    this.cut(
      M * N * K,
      M,
      4,
      (m0, m1) =>
        isBlockType(wt)
          ? { fn: 'matmul_dyw_q', args: [dx + m0 * K * 4, dy + m0 * N * 4, w, m1 - m0, N, K, wt, acc] }
          : { fn: 'matmul_dyw', args: [dx + m0 * K * 4, dy + m0 * N * 4, w, scale, m1 - m0, N, K, wt, acc] },
      16,
    );
  }

  /** dst[rows,K] f32 = rows of blocks of `wt` (a block type) at w. */
  dequantizeRows(dst: number, w: number, rows: number, K: number, wt: WeightType): void {
    this.core.dequantize_rows_q(dst, w, rows, K, wt);
  }

  /** dw[N,K] (+)= dy[M,N]ᵀ·x[M,K] (f32). */
  matmulDyTX(dw: number, dy: number, x: number, M: number, N: number, K: number, accumulate = false): void {
    const acc = accumulate ? 1 : 0;
    // The product is gemm(dw, K, dy, 1, N, x, K, 1, f32, …, N, K, M): rows of dw are rows of its
    // first operand (columns of dy), columns of dw are columns of x. Slices take the longer side.
    if (N >= K)
      this.cut(
        M * N * K,
        N,
        4,
        (n0, n1) => ({
          fn: 'gemm',
          args: [dw + n0 * K * 4, K, dy + n0 * 4, 1, N, x, K, 1, WeightType.F32, 0, 0, n1 - n0, K, M, acc],
        }),
        8,
      );
    else
      this.cut(M * N * K, K, 8, (k0, k1) => ({
        fn: 'gemm',
        args: [dw + k0 * 4, K, dy, 1, N, x + k0 * 4, K, 1, WeightType.F32, 0, 0, N, k1 - k0, M, acc],
      }));
  }

  /** y[rows,dim] = x·rstd·w; rstd[rows] = 1/sqrt(mean(x²) + eps) is saved for the backward. */
  rmsnormForward(y: number, rstd: number, x: number, w: number, rows: number, dim: number, eps: number): void {
    this.cut((rows * dim) / 2, rows, 1, (r0, r1) => ({
      fn: 'rmsnorm_fwd',
      args: [y + r0 * dim * 4, rstd + r0 * 4, x + r0 * dim * 4, w, r1 - r0, dim, eps],
    }));
  }

  /** dx[rows,dim] from dy (dx may alias dy); dw[dim] (+)= Σ dy∘x·rstd. */
  rmsnormBackward(
    dx: number,
    dw: number,
    dy: number,
    x: number,
    w: number,
    rstd: number,
    rows: number,
    dim: number,
    accumulate = false,
  ): void {
    this.core.rmsnorm_bwd(dx, dw, dy, x, w, rstd, rows, dim, accumulate ? 1 : 0);
  }

  /**
   * tab[S,D]: cos then sin of the RoPE angles of positions offset..offset+S−1 (Hugging Face f32
   * numerics), with Llama 3's rescaled frequencies when `scaling` is given.
   */
  ropeTable(tab: number, S: number, D: number, theta: number, offset = 0, scaling?: Llama3RopeScaling): void {
    if (D % 2 !== 0) throw new RangeError(`RoPE needs an even head dimension, got ${D}`);
    const r = scaling;
    this.core.rope_table(
      tab,
      S,
      D,
      theta,
      offset,
      r?.factor ?? 0,
      r?.lowFreqFactor ?? 0,
      r?.highFreqFactor ?? 0,
      r?.originalMaxPositions ?? 0,
    );
  }

  /** Rotates x[B,S,H,D] in place (rotate-half layout); inverse rotates back (the backward pass). */
  ropeApply(x: number, tab: number, B: number, S: number, H: number, D: number, inverse = false): void {
    const inv = inverse ? 1 : 0,
      work = (B * S * H * D) / 4;
    if (B > 1)
      this.cut(work, B, 1, (b0, b1) => ({
        fn: 'rope_apply',
        args: [x + b0 * S * H * D * 4, tab, b1 - b0, S, H, D, inv],
      }));
    else
      this.cut(work, S, 1, (s0, s1) => ({
        fn: 'rope_apply',
        args: [x + s0 * H * D * 4, tab + s0 * D * 4, 1, s1 - s0, H, D, inv],
      }));
  }

  /** h[n] = silu(g)·u. */
  swigluForward(h: number, g: number, u: number, n: number): void {
    this.cut(n, n, 16, (i, j) => ({ fn: 'swiglu_fwd', args: [h + i * 4, g + i * 4, u + i * 4, j - i] }));
  }

  /** dg, du [n] from dh; dg may alias g and du may alias u. */
  swigluBackward(dg: number, du: number, dh: number, g: number, u: number, n: number): void {
    this.cut(n, n, 16, (i, j) => ({
      fn: 'swiglu_bwd',
      args: [dg + i * 4, du + i * 4, dh + i * 4, g + i * 4, u + i * 4, j - i],
    }));
  }

  /** Causal attention: o[B,S,H,D] and lse[B,H,S] from q[B,S,H,D], k and v [B,S,KVH,D]. */
  attentionForward(
    o: number,
    lse: number,
    q: number,
    k: number,
    v: number,
    B: number,
    S: number,
    H: number,
    KVH: number,
    D: number,
  ): void {
    checkHeads(H, KVH, D);
    this.cut((B * S * S * H * D) / 2, H, 1, (h0, h1) => ({
      fn: 'attention_fwd',
      args: [o, lse, q, k, v, B, S, H, KVH, D, h0, h1],
    }));
  }

  /** dq[B,S,H,D], dk and dv [B,S,KVH,D] (overwritten) from dout and the forward's tensors. */
  attentionBackward(
    dq: number,
    dk: number,
    dv: number,
    dout: number,
    q: number,
    k: number,
    v: number,
    o: number,
    lse: number,
    B: number,
    S: number,
    H: number,
    KVH: number,
    D: number,
  ): void {
    checkHeads(H, KVH, D);
    // Slices take whole groups of heads, so each kv head's gradients are summed by one thread.
    const group = H / KVH;
    this.cut(B * S * S * H * D, KVH, 1, (g0, g1) => ({
      fn: 'attention_bwd',
      args: [dq, dk, dv, dout, q, k, v, o, lse, B, S, H, KVH, D, g0 * group, g1 * group],
    }));
  }

  /** One decoding step: o[B,H,D] from q[B,H,D] over positions 0..T−1 of caches [B,Tmax,KVH,D]. */
  attentionDecode(
    o: number,
    q: number,
    kc: number,
    vc: number,
    B: number,
    H: number,
    KVH: number,
    D: number,
    Tmax: number,
    T: number,
  ): void {
    checkHeads(H, KVH, D);
    if (T < 1 || T > Tmax || T > MAX_DECODE_POSITIONS)
      throw new RangeError(`decode attention over ${T} positions (cache ${Tmax}, limit ${MAX_DECODE_POSITIONS})`);
    // The caches are read from memory (a step's weights have pushed them out of cache): each value
    // read counts as 4 multiply-adds, so that the heads split from a few dozen positions on.
    this.cut(8 * B * H * T * D, H, 1, (h0, h1) => ({
      fn: 'attention_decode',
      args: [o, q, kc, vc, B, H, KVH, D, Tmax, T, h0, h1],
    }));
  }

  /**
   * attentionDecode for many sequences at once, each with its own caches and length (a served
   * batch): `table` is the int32 view of the rows at `tab`, DECODE_ROW_INTS a row (q, o, kc, vc,
   * T: the row's query [H,D], output [H,D], caches [·,KVH,D] and positions). Each row's output
   * has the bits of attentionDecode on that row alone. T is checked against the scores' limit
   * here; that it lies within its row's caches is the caller's to check (the table has no
   * capacities).
   */
  attentionDecodeRows(tab: number, table: Int32Array, H: number, KVH: number, D: number): void {
    checkHeads(H, KVH, D);
    // the kernel reads the rows at tab: what is checked here must be them
    if (table.byteOffset !== tab)
      throw new RangeError(`decode attention: the table checked is at byte ${table.byteOffset}, the rows at ${tab}`);
    if (table.length % DECODE_ROW_INTS !== 0)
      throw new RangeError(`decode attention: a table of ${table.length} int32 is not rows of ${DECODE_ROW_INTS}`);
    const rows = table.length / DECODE_ROW_INTS;
    let positions = 0;
    for (let r = 0; r < rows; r++) {
      const T = table[r * DECODE_ROW_INTS + 4];
      if (!(T >= 1 && T <= MAX_DECODE_POSITIONS))
        throw new RangeError(`decode attention of row ${r} over ${T} positions (limit ${MAX_DECODE_POSITIONS})`);
      positions += T;
    }
    this.cut(8 * H * positions * D, rows * H, 1, (u0, u1) => ({
      fn: 'attention_decode_rows',
      args: [tab, H, KVH, D, u0, u1],
    }));
  }

  /** loss[rows] = lse − logits[target] (0 where target < 0) and lse[rows] from logits[rows,V], targets int32[rows]. */
  crossEntropyForward(loss: number, lse: number, logits: number, targets: number, rows: number, V: number): void {
    this.cut(rows * V, rows, 1, (r0, r1) => ({
      fn: 'ce_fwd',
      args: [loss + r0 * 4, lse + r0 * 4, logits + r0 * V * 4, targets + r0 * 4, r1 - r0, V],
    }));
  }

  /** crossEntropyForward, then logits[rows,V] overwritten in place by (softmax − onehot)·scale (zero rows where target < 0). */
  crossEntropyForwardBackward(
    loss: number,
    lse: number,
    logits: number,
    targets: number,
    rows: number,
    V: number,
    scale: number,
  ): void {
    this.cut(rows * V, rows, 1, (r0, r1) => ({
      fn: 'ce_fwd_bwd',
      args: [loss + r0 * 4, lse + r0 * 4, logits + r0 * V * 4, targets + r0 * 4, r1 - r0, V, scale],
    }));
  }

  /** out[n,dim] = table[ids] (table stored as `wt`, with `scale`[vocab] for int8). */
  embeddingGather(
    out: number,
    table: number,
    scale: number,
    ids: number,
    n: number,
    dim: number,
    wt: WeightType,
  ): void {
    if (isBlockType(wt)) this.core.embedding_gather_q(out, table, ids, n, dim, wt);
    else this.core.embedding_gather(out, table, scale, ids, n, dim, wt);
  }

  /** dtable[ids[i]] += dout[i]. */
  embeddingScatterAdd(dtable: number, dout: number, ids: number, n: number, dim: number): void {
    this.core.embedding_scatter_add(dtable, dout, ids, n, dim);
  }

  /** One AdamW step over n parameters p with gradient g and state m, v (all f32, in place). */
  adamw(p: number, g: number, m: number, v: number, n: number, s: AdamWStep): void {
    const hyper = [s.lr, s.beta1, s.beta2, s.eps, s.weightDecay, s.bc1, s.bc2];
    this.cut(2 * n, n, 16, (i, j) => ({
      fn: 'adamw',
      args: [p + i * 4, g + i * 4, m + i * 4, v + i * 4, j - i, ...hyper],
    }));
  }

  /** Σ x² over n floats. */
  sumSquares(x: number, n: number): number {
    return this.core.sumsq(x, n);
  }

  /** x[n] *= s. */
  scale(x: number, n: number, s: number): void {
    this.cut(n / 4, n, 16, (i, j) => ({ fn: 'scale', args: [x + i * 4, j - i, s] }));
  }

  /** y[n] += a·x. */
  axpy(y: number, x: number, n: number, a = 1): void {
    this.cut(n / 4, n, 16, (i, j) => ({ fn: 'axpy', args: [y + i * 4, x + i * 4, j - i, a] }));
  }

  /** y[n] = a∘b (y may alias a or b). */
  multiply(y: number, a: number, b: number, n: number): void {
    this.cut(n / 4, n, 16, (i, j) => ({ fn: 'vmul', args: [y + i * 4, a + i * 4, b + i * 4, j - i] }));
  }

  /** q int8[rows,cols] and scale[rows] (max|w|/127) from w f32[rows,cols]. */
  quantizeRowsInt8(q: number, scale: number, w: number, rows: number, cols: number): void {
    this.core.quantize_rows_i8(q, scale, w, rows, cols);
  }

  /**
   * dst = src f32[n] (a multiple of 32) as Q8_0 or Q4_0 blocks, byte for byte what
   * checkpoint/gguf/blocks.ts's quantizeQ8_0 and quantizeQ4_0 (llama.cpp's reference
   * quantizers) write.
   */
  quantizeBlocks(dst: number, src: number, n: number, wt: WeightType.Q8_0 | WeightType.Q4_0): void {
    wholeBlocks(n, wt);
    this.core.quantize_blocks(dst, src, n, wt);
  }

  /** dst bf16[n] from src f32[n], rounded to nearest even. */
  f32ToBf16(dst: number, src: number, n: number): void {
    this.core.f32_to_bf16(dst, src, n);
  }

  /** dst f32[n] from src bf16[n]. */
  bf16ToF32(dst: number, src: number, n: number): void {
    this.core.bf16_to_f32(dst, src, n);
  }

  /** Runs the register-only FMA loop: 80·iters flops. */
  fmaPeak(iters: number): number {
    return this.core.fma_peak(iters);
  }

  /** Copies bytes (a multiple of 64) with 128-bit loads and stores. */
  copyBytes(dst: number, src: number, bytes: number): void {
    if (bytes % 64 !== 0) throw new RangeError(`copyBytes needs a multiple of 64 bytes, got ${bytes}`);
    this.core.copy_bytes(dst, src, bytes);
  }
}

function checkHeads(H: number, KVH: number, D: number): void {
  if (KVH < 1 || H % KVH !== 0) throw new RangeError(`attention: ${H} query heads cannot share ${KVH} kv heads`);
  if (D < 1 || D > MAX_HEAD_DIM) throw new RangeError(`attention: head dimension ${D} outside 1..${MAX_HEAD_DIM}`);
}
