/**
 * Typed calls into the core. Every argument named like a tensor is a byte offset into the
 * core's memory (from its Arena); shapes are in the doc comments, row-major.
 */

/** How frozen weights are stored: f32, bf16 (upper half of f32), or int8 with an f32 scale per output row. */
export const enum WeightType {
  F32 = 0,
  BF16 = 1,
  I8 = 2,
}

/** The raw exports of the WASM core (see assembly/index.ts). */
export interface CoreExports {
  heap_base(): number;
  workspace_bytes(): number;
  set_workspace(ptr: number): void;
  matmul_xwt(y: number, x: number, w: number, scale: number, M: number, N: number, K: number, wt: number, acc: number): void;
  matmul_dyw(dx: number, dy: number, w: number, scale: number, M: number, N: number, K: number, wt: number, acc: number): void;
  matmul_dytx(dw: number, dy: number, x: number, M: number, N: number, K: number, acc: number): void;
}

/** The kernels of one core instance. */
export class Kernels {
  constructor(private readonly core: CoreExports) {}

  /** y[M,N] (+)= x[M,K]·w[N,K]ᵀ; w stored as `wt`, `scale`[N] used for int8 (pass 0 otherwise). */
  matmulXWt(y: number, x: number, w: number, scale: number, M: number, N: number, K: number, wt: WeightType, accumulate = false): void {
    this.core.matmul_xwt(y, x, w, scale, M, N, K, wt, accumulate ? 1 : 0);
  }

  /** dx[M,K] (+)= dy[M,N]·w[N,K]; w stored as `wt`, `scale`[N] for int8. */
  matmulDyW(dx: number, dy: number, w: number, scale: number, M: number, N: number, K: number, wt: WeightType, accumulate = false): void {
    this.core.matmul_dyw(dx, dy, w, scale, M, N, K, wt, accumulate ? 1 : 0);
  }

  /** dw[N,K] (+)= dy[M,N]ᵀ·x[M,K] (f32). */
  matmulDyTX(dw: number, dy: number, x: number, M: number, N: number, K: number, accumulate = false): void {
    this.core.matmul_dytx(dw, dy, x, M, N, K, accumulate ? 1 : 0);
  }
}
