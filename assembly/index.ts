// The compute core: every kernel the host calls. Pure functions over byte offsets into the
// imported memory; no allocator (built with --runtime stub). Scratch space comes from the host
// through set_workspace.
export { set_workspace, workspace_bytes, heap_base } from './workspace';
export { gemm, matmul_xwt, matmul_xwt_rows, matmul_dyw } from './gemm';
export { rmsnorm_fwd, rmsnorm_bwd } from './norm';
export { rope_table, rope_apply } from './rope';
export { swiglu_fwd, swiglu_bwd } from './swiglu';
export { attention_fwd, attention_bwd, attention_decode, attention_decode_rows } from './attention';
export { ce_fwd, ce_fwd_bwd } from './loss';
export { embedding_gather, embedding_scatter_add } from './embed';
export { adamw, sumsq, scale, axpy, vmul } from './optim';
export { quantize_rows_i8, f32_to_bf16, bf16_to_f32 } from './quant';
export { matmul_xwt_q, matmul_dyw_q, dequantize_rows_q, embedding_gather_q, quantize_blocks } from './qblocks';
export { matmul_xwt_qa } from './qact';
export { fma_peak, copy_bytes } from './bench';
