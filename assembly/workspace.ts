// The scratch region kernels use for packed panels and tiles. The host reserves it in its arena
// (WORKSPACE_BYTES, 64-byte aligned) and hands it over once with set_workspace.

/** Target panel depth (reduction) of the packed GEMM blocks; a block may be up to KC_MAX deep. */
export const KC: i32 = 256;
export const KC_MAX: i32 = 2 * KC;
/** Width of a packed B panel. */
export const NC: i32 = 512;
/** Rows of A packed per block. */
export const MC: i32 = 128;

/** Byte offsets of the regions inside the workspace. */
export const PACK_B_BYTES: usize = <usize>(KC_MAX * NC * 4);
export const PACK_A_BYTES: usize = <usize>(MC * KC_MAX * 4);
export const TILE_BYTES: usize = 256;
/** Attention blocks: queries and keys per block, and the largest head dimension. */
export const ATTN_QB: i32 = 64;
export const ATTN_KB: i32 = 64;
export const ATTN_MAX_D: i32 = 256;
/** Two [QB x KB] tiles, one [QB x D] accumulator and three per-row vectors. */
export const ATTN_BYTES: usize = <usize>(2 * ATTN_QB * ATTN_KB + ATTN_QB * ATTN_MAX_D + 3 * ATTN_QB) * 4;

/** Block-quantized weight rows dequantized for one GEMM call (qblocks.ts). */
export const QROWS_BYTES: usize = 1 << 20;

/** Total bytes of workspace every kernel may use. */
export const WORKSPACE_BYTES: usize = PACK_B_BYTES + PACK_A_BYTES + TILE_BYTES + ATTN_BYTES + QROWS_BYTES;

let base: usize = 0;

/** Hands the kernels their scratch region (an aligned offset of WORKSPACE_BYTES bytes). */
export function set_workspace(ptr: usize): void {
  base = ptr;
}

/** Bytes the host must reserve for set_workspace. */
export function workspace_bytes(): usize {
  return WORKSPACE_BYTES;
}

// @ts-ignore: decorator
@inline export function packB(): usize { return base; }
// @ts-ignore: decorator
@inline export function packA(): usize { return base + PACK_B_BYTES; }
// @ts-ignore: decorator
@inline export function tile(): usize { return base + PACK_B_BYTES + PACK_A_BYTES; }
// @ts-ignore: decorator
@inline export function attnScratch(): usize { return base + PACK_B_BYTES + PACK_A_BYTES + TILE_BYTES; }
// @ts-ignore: decorator
@inline export function qRows(): usize { return base + PACK_B_BYTES + PACK_A_BYTES + TILE_BYTES + ATTN_BYTES; }

/** First byte after the core's own static data: the host's arena starts at or after it. */
export function heap_base(): usize {
  return __heap_base;
}
