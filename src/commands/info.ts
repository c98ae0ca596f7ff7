/**
 * `wasmformers info`: which core build this engine runs, its FMA peak, and the speed of one
 * f32 GEMM (256×2048×2048) on one thread. The quickest check that a machine is set up right.
 */
import { loadCore, type CoreKind } from '../runtime/core.ts';
import { WeightType } from '../runtime/kernels.ts';

function bestMs(fn: () => void, runs: number): number {
  fn();
  let best = Infinity;
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

/** Prints the core, its peak and one GEMM's speed; `--core relaxed|simd` forces a build. */
export async function main(argv: string[]): Promise<number> {
  const i = argv.indexOf('--core');
  const kind = i >= 0 ? (argv[i + 1] as CoreKind) : 'auto';
  if (kind !== 'auto' && kind !== 'relaxed' && kind !== 'simd')
    throw new Error(`--core ${argv[i + 1]}: expected relaxed or simd`);
  const { kind: loaded, arena, kernels } = await loadCore({ kind });
  const peak = (80 * 2e6) / bestMs(() => kernels.fmaPeak(2e6), 5) / 1e6;
  const [M, N, K] = [256, 2048, 2048];
  const x = arena.alloc(M * K * 4),
    w = arena.alloc(N * K * 4),
    y = arena.alloc(M * N * 4);
  arena.f32(x, M * K).fill(0.5);
  arena.f32(w, N * K).fill(0.25);
  const gemm = (2 * M * N * K) / bestMs(() => kernels.matmulXWt(y, x, w, 0, M, N, K, WeightType.F32), 5) / 1e6;
  console.log(`core: ${loaded} (${loaded === 'relaxed' ? 'relaxed SIMD: FMA' : 'SIMD128'})`);
  console.log(`128-bit FMA peak, one thread: ${peak.toFixed(1)} GFLOP/s`);
  console.log(
    `f32 GEMM ${M}×${N}×${K}, one thread: ${gemm.toFixed(1)} GFLOP/s (${((100 * gemm) / peak).toFixed(0)}% of peak)`,
  );
  return 0;
}
