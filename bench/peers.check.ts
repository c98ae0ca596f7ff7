/**
 * Check and time the peer GEMMs: `npx tsx bench/peers.check.ts`.
 *
 * 1. For M,N,K = 64,288,768, compare each peer's Y with a plain triple loop (f64 accumulation);
 *    the error is max|Y − Yref| / max|Yref| and must be below 1e-4.
 * 2. Time each peer single-threaded on 256×2048×2048 and 512×512×512: warm up, then the median
 *    of several runs (performance.now), printed as GFLOP/s (2·M·N·K flops per GEMM).
 */
import { onnxruntimeWebGemm, tfjsWasmGemm, type PeerGemm, type PeerInputs } from './peers.ts';

type Factory = (M: number, N: number, K: number, inputs?: PeerInputs) => Promise<PeerGemm>;

const peers: Factory[] = [tfjsWasmGemm, onnxruntimeWebGemm];

/** Y[M,N] = X[M,K]·W[N,K]ᵀ, the obvious way. */
function referenceGemm(x: Float32Array, w: Float32Array, M: number, N: number, K: number): Float64Array {
  const y = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k] * w[n * K + k];
      y[m * N + n] = s;
    }
  }
  return y;
}

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() * 2 - 1;
  return a;
}

async function check(M: number, N: number, K: number): Promise<boolean> {
  const x = randomArray(M * K);
  const w = randomArray(N * K);
  const ref = referenceGemm(x, w, M, N, K);
  let refMax = 0;
  for (const v of ref) refMax = Math.max(refMax, Math.abs(v));
  let ok = true;
  for (const make of peers) {
    const peer = await make(M, N, K, { x, w });
    await peer.run();
    const y = await peer.read();
    let errMax = 0;
    for (let i = 0; i < ref.length; i++) errMax = Math.max(errMax, Math.abs(y[i] - ref[i]));
    const rel = errMax / refMax;
    const pass = y.length === ref.length && rel < 1e-4;
    ok &&= pass;
    console.log(`check ${M}x${N}x${K}  ${peer.name.padEnd(30)} max rel err ${rel.toExponential(2)}  ${pass ? 'ok' : 'FAIL'}`);
    peer.dispose();
  }
  return ok;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}

async function time(M: number, N: number, K: number, warmup: number, runs: number): Promise<void> {
  const flops = 2 * M * N * K;
  for (const make of peers) {
    const peer = await make(M, N, K);
    for (let i = 0; i < warmup; i++) await peer.run();
    const ms: number[] = [];
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      await peer.run();
      ms.push(performance.now() - t0);
    }
    const med = median(ms);
    console.log(
      `time  ${`${M}x${N}x${K}`.padEnd(14)} ${peer.name.padEnd(30)} ` +
        `${(flops / med / 1e6).toFixed(1).padStart(6)} GFLOP/s  (median ${med.toFixed(2)} ms of ${runs}, ` +
        `min ${Math.min(...ms).toFixed(2)} ms)`,
    );
    peer.dispose();
  }
}

const ok = await check(64, 288, 768);
await time(256, 2048, 2048, 3, 9);
await time(512, 512, 512, 5, 21);
if (!ok) {
  console.error('peers.check: a peer disagrees with the reference GEMM');
  process.exit(1);
}
