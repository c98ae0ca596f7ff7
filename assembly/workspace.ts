// The scratch region kernels use for packed panels and tiles. The host reserves it in its arena
// (WORKSPACE_BYTES, 64-byte aligned) and hands it over once with set_workspace.

/** Panel depth (reduction) and width of the packed GEMM blocks. */
export const KC: i32 = 256;
export const NC: i32 = 512;
/** Rows of A packed per block. */
export const MC: i32 = 128;

/** Byte offsets of the regions inside the workspace. */
export const PACK_B_BYTES: usize = <usize>(KC * NC * 4);
export const PACK_A_BYTES: usize = <usize>(MC * KC * 4);
export const TILE_BYTES: usize = 256;
/** Attention keeps a few [64 × head_dim ≤ 256] blocks and a [64 × 64] score tile per step. */
export const ATTN_BYTES: usize = 8 * 64 * 256 * 4;

/** Total bytes of workspace every kernel may use. */
export const WORKSPACE_BYTES: usize = PACK_B_BYTES + PACK_A_BYTES + TILE_BYTES + ATTN_BYTES;

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

/** First byte after the core's own static data: the host's arena starts at or after it. */
export function heap_base(): usize {
  return __heap_base;
}
