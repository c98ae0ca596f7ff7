/**
 * Kernel benchmark: `npm run bench` (add `-- --quick` for a short run).
 *
 * For each GEMM shape M×N×K (Y[M,N] = X[M,K]·W[N,K]ᵀ), each core build and each weight type it
 * prints GFLOP/s (and GB/s of weights for the 1×N×K shapes), the fraction of the 128-bit FMA peak
 * measured by a register-only loop in the same core, and the ratio against two WebAssembly
 * libraries measured on the same shape in the same run: @tensorflow/tfjs-backend-wasm (XNNPACK)
 * and onnxruntime-web (MLAS), both single-threaded. Then the int8 GEMV, and generation's GEMV over
 * llama.cpp's blocks (Q8_0, Q4_0, Q4_K, Q6_K, with int8 activations), against the f32 GEMV and
 * against the bandwidth of a plain copy, and causal attention forward+backward against a GEMM of
 * the same FLOP count. Everything runs on one thread, so the ratios hold on any machine.
 */
import { loadCore, relaxedSupported, type Core, type CoreKind } from '../src/runtime/core.ts';
import { quantizeQ4_0, quantizeQ4_K, quantizeQ6_K, quantizeQ8_0 } from '../src/checkpoint/gguf/blocks.ts';
import { WeightType, weightBytes } from '../src/runtime/kernels.ts';
import { onnxruntimeWebGemm, tfjsWasmGemm, type PeerGemm } from './peers.ts';
import { medianMs } from './timing.ts';
import { Rng } from '../src/runtime/random.ts';

const quick = process.argv.includes('--quick');
const SHAPES: [number, number, number][] = quick
  ? [
      [256, 2048, 2048],
      [1, 4096, 11008],
    ]
  : [
      [512, 512, 512],
      [256, 2048, 2048],
      [64, 288, 768],
      [1, 2048, 2048],
      [1, 4096, 11008],
    ];
const WEIGHTS: [WeightType, string][] = [
  [WeightType.F32, 'f32'],
  [WeightType.BF16, 'bf16'],
  [WeightType.I8, 'int8'],
];

/** Median milliseconds of fn over a short sampling run. */
function timeMs(fn: () => unknown, ms = quick ? 300 : 800): Promise<number> {
  return medianMs(fn, { time: ms, warmupTime: Math.min(200, ms / 2), warmupIterations: 2, iterations: 3 });
}

/** Fills n floats at ptr with uniform values in [-1, 1) from `seed`. */
function fill(core: Core, ptr: number, n: number, seed: number): void {
  new Rng(seed).fillUniform(core.arena.f32(ptr, n), -1, 1);
}

/** GFLOP/s of the register-only FMA loop of this core. */
async function peakGflops(core: Core): Promise<number> {
  const iters = 2_000_000;
  const ms = await timeMs(() => core.kernels.fmaPeak(iters));
  return (80 * iters) / ms / 1e6;
}

/** GB/s (bytes read + written) of a plain 128-bit copy of `bytes`. */
async function copyGBs(core: Core, bytes: number): Promise<number> {
  const mark = core.arena.mark();
  const src = core.arena.alloc(bytes),
    dst = core.arena.alloc(bytes);
  fill(core, src, bytes / 4, 7);
  fill(core, dst, bytes / 4, 8); // untouched pages would all map to one zero page and flatter the copy
  const ms = await timeMs(() => core.kernels.copyBytes(dst, src, bytes));
  core.arena.release(mark);
  return (2 * bytes) / ms / 1e6;
}

interface GemmResult {
  gflops: number;
  weightGBs: number;
}

/** Times y = x·wᵀ with weights stored as wt; checks it against the peer's output first. */
async function ourGemm(
  core: Core,
  M: number,
  N: number,
  K: number,
  wt: WeightType,
  check?: Float32Array,
): Promise<GemmResult> {
  const { arena, kernels } = core;
  const mark = arena.mark();
  const x = arena.alloc(M * K * 4),
    wf = arena.alloc(N * K * 4),
    y = arena.alloc(M * N * 4),
    scale = arena.alloc(N * 4);
  fill(core, x, M * K, 1);
  fill(core, wf, N * K, 2);
  let w = wf;
  if (wt === WeightType.BF16) {
    w = arena.alloc(N * K * 2);
    kernels.f32ToBf16(w, wf, N * K);
  }
  if (wt === WeightType.I8) {
    w = arena.alloc(N * K);
    kernels.quantizeRowsInt8(w, scale, wf, N, K);
  }
  kernels.matmulXWt(y, x, w, scale, M, N, K, wt);
  if (check) {
    const got = arena.f32(y, M * N);
    let err = 0,
      mag = 0;
    for (let i = 0; i < got.length; i++) {
      err = Math.max(err, Math.abs(got[i] - check[i]));
      mag = Math.max(mag, Math.abs(check[i]));
    }
    if (err > 1e-4 * mag) throw new Error(`${M}x${N}x${K}: our f32 product and the peer's differ by ${err / mag}`);
  }
  const ms = await timeMs(() => kernels.matmulXWt(y, x, w, scale, M, N, K, wt));
  arena.release(mark);
  return { gflops: (2 * M * N * K) / ms / 1e6, weightGBs: (N * K * weightBytes(wt)) / ms / 1e6 };
}

/** The block types of generation's GEMV row, with their reference quantizers. */
const BLOCK_TYPES: [WeightType, string, (values: Float32Array) => Uint8Array][] = [
  [WeightType.Q8_0, 'Q8_0', quantizeQ8_0],
  [WeightType.Q4_0, 'Q4_0', quantizeQ4_0],
  [WeightType.Q4_K, 'Q4_K', quantizeQ4_K],
  [WeightType.Q6_K, 'Q6_K', quantizeQ6_K],
];

/** Generation's GEMV y[N] = x[K]·W[N,K]ᵀ over `blocks` of `wt` (x rounded to int8 per block): GFLOP/s and weight GB/s. */
async function blockGemv(core: Core, N: number, K: number, wt: WeightType, blocks: Uint8Array): Promise<GemmResult> {
  const { arena, kernels } = core;
  const mark = arena.mark();
  const w = arena.alloc(blocks.length),
    x = arena.alloc(K * 4),
    y = arena.alloc(N * 4);
  arena.u8(w, blocks.length).set(blocks);
  fill(core, x, K, 5);
  const ms = await timeMs(() => kernels.matmulXWtInt8(y, x, w, 1, N, K, wt));
  arena.release(mark);
  return { gflops: (2 * N * K) / ms / 1e6, weightGBs: blocks.length / ms / 1e6 };
}

/** The peers' GFLOP/s on a shape, with the output of the first (inputs in our fill order). */
async function peerGemms(
  core: Core,
  M: number,
  N: number,
  K: number,
): Promise<{ rates: Record<string, number>; y: Float32Array }> {
  const mark = core.arena.mark();
  const px = core.arena.alloc(M * K * 4),
    pw = core.arena.alloc(N * K * 4);
  fill(core, px, M * K, 1);
  fill(core, pw, N * K, 2);
  const x = Float32Array.from(core.arena.f32(px, M * K)),
    w = Float32Array.from(core.arena.f32(pw, N * K));
  core.arena.release(mark);
  const rates: Record<string, number> = {};
  let y: Float32Array | undefined;
  for (const make of [tfjsWasmGemm, onnxruntimeWebGemm]) {
    const peer: PeerGemm = await make(M, N, K, { x, w });
    await peer.run();
    y ??= await peer.read();
    const ms = await timeMs(() => peer.run());
    rates[peer.name] = (2 * M * N * K) / ms / 1e6;
    peer.dispose();
  }
  return { rates, y: y! };
}

/** Milliseconds of causal attention forward + backward, and its FLOP count. */
async function attentionMs(core: Core, S: number, H: number, D: number): Promise<{ ms: number; flops: number }> {
  const { arena, kernels } = core;
  const mark = arena.mark();
  const n = S * H * D;
  const [q, k, v, o, dout, dq, dk, dv] = Array.from({ length: 8 }, () => arena.alloc(n * 4));
  const lse = arena.alloc(H * S * 4);
  [q, k, v, dout].forEach((p, i) => fill(core, p, n, 11 + i));
  const ms = await timeMs(() => {
    kernels.attentionForward(o, lse, q, k, v, 1, S, H, H, D);
    kernels.attentionBackward(dq, dk, dv, dout, q, k, v, o, lse, 1, S, H, H, D);
  });
  arena.release(mark);
  // 2 products forward, 5 backward, each over the S(S+1)/2 causal pairs of each head.
  return { ms, flops: 7 * 2 * ((S * (S + 1)) / 2) * D * H };
}

const pct = (x: number) => `${(100 * x).toFixed(0)}%`;
const f1 = (x: number) => x.toFixed(1);

async function main(): Promise<void> {
  const kinds: CoreKind[] = (await relaxedSupported()) ? ['relaxed', 'simd'] : ['simd'];
  const cores = new Map<CoreKind, Core>();
  for (const kind of kinds) cores.set(kind, await loadCore({ kind }));
  // The machine's 128-bit FMA peak comes from the relaxed core's loop; the plain build has no
  // FMA, so its fractions are of the same hardware peak (its own mul+add loop is shown beside).
  const peaks = new Map<CoreKind, number>();
  for (const [kind, core] of cores) peaks.set(kind, await peakGflops(core));
  const peak = peaks.get('relaxed') ?? peaks.get('simd')!;
  console.log(
    `one thread; register-only multiply-add loop: ${kinds.map((k) => `${k} ${f1(peaks.get(k)!)} GFLOP/s`).join(', ')}; "of peak" is of ${f1(peak)}`,
  );
  console.log('');
  console.log(
    ['shape M×N×K', 'core', 'weights', 'GFLOP/s', 'weight GB/s', 'of peak', '× XNNPACK', '× ORT-web']
      .map((s) => s.padEnd(13))
      .join(''),
  );
  const gemv = new Map<string, GemmResult>();
  for (const [M, N, K] of SHAPES) {
    const peers = await peerGemms(cores.get(kinds[0])!, M, N, K);
    const xnn = Object.entries(peers.rates).find(([n]) => n.includes('tfjs'))![1];
    const ortRate = Object.entries(peers.rates).find(([n]) => n.includes('onnx'))![1];
    for (const [kind, core] of cores) {
      for (const [wt, wname] of WEIGHTS) {
        const r = await ourGemm(core, M, N, K, wt, wt === WeightType.F32 ? peers.y : undefined);
        if (M === 1) gemv.set(`${kind} ${wname} ${N}x${K}`, r);
        console.log(
          [
            `${M}×${N}×${K}`,
            kind,
            wname,
            f1(r.gflops),
            M === 1 ? f1(r.weightGBs) : '',
            pct(r.gflops / peak),
            `${(r.gflops / xnn).toFixed(2)}×`,
            `${(r.gflops / ortRate).toFixed(2)}×`,
          ]
            .map((s) => s.padEnd(13))
            .join(''),
        );
      }
    }
    console.log(
      ['', 'peers', 'f32', `XNNPACK ${f1(xnn)}`, '', `ORT-web ${f1(ortRate)}`].map((s) => s.padEnd(13)).join(''),
    );
  }
  console.log('');
  // the blocks of generation's GEMV row, quantized once for every core
  let blocks: Uint8Array[] | undefined;
  for (const [kind, core] of cores) {
    const int8 = gemv.get(`${kind} int8 4096x11008`),
      f32 = gemv.get(`${kind} f32 4096x11008`);
    if (f32) {
      const copy = await copyGBs(core, 4096 * 11008);
      if (int8)
        console.log(
          `${kind}: int8 GEMV 1×4096×11008 is ${(int8.gflops / f32.gflops).toFixed(2)}× the f32 GEMV; reads weights at ${f1(int8.weightGBs)} GB/s = ${pct(int8.weightGBs / copy)} of a plain copy (${f1(copy)} GB/s read+written)`,
        );
      if (!blocks) {
        const values = new Float32Array(4096 * 11008);
        new Rng(6).fillNormal(values, 1);
        blocks = BLOCK_TYPES.map(([, , quantize]) => quantize(values));
      }
      for (const [i, [wt, name]] of BLOCK_TYPES.entries()) {
        const r = await blockGemv(core, 4096, 11008, wt, blocks[i]);
        console.log(
          `${kind}: ${name} GEMV 1×4096×11008 (int8 activations) is ${(r.gflops / f32.gflops).toFixed(2)}× the f32 GEMV (${f1(r.gflops / 2)} G multiply-adds/s); reads weights at ${f1(r.weightGBs)} GB/s = ${pct(r.weightGBs / copy)} of a plain copy`,
        );
      }
    }
    const att = await attentionMs(core, 512, 8, 64);
    const gemm = await ourGemm(core, 512, 512, 512, WeightType.F32);
    const gemmMs = att.flops / gemm.gflops / 1e6;
    console.log(
      `${kind}: causal attention fwd+bwd, S 512, 8 heads of 64: ${f1(att.ms)} ms, ${f1(att.flops / att.ms / 1e6)} GFLOP/s = ${(att.ms / gemmMs).toFixed(2)}× the time of GEMMs of the same FLOP count`,
    );
  }
}

await main();
