// The compute core: every kernel the host calls. Pure functions over byte offsets into the
// imported memory; no allocator (built with --runtime stub).
export { set_workspace, workspace_bytes, heap_base } from './workspace';
export { matmul_xwt, matmul_dyw, matmul_dytx } from './gemm';
