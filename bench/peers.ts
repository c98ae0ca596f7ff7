/**
 * Peer GEMMs for the kernel benchmark: the same f32 product Y[M,N] = X[M,K]·W[N,K]ᵀ computed by
 * two established single-threaded WebAssembly SIMD libraries, loaded in-process from
 * node_modules (nothing is fetched):
 *
 *   - @tensorflow/tfjs-backend-wasm: XNNPACK, `tfjs-backend-wasm-simd.wasm`, one thread.
 *   - onnxruntime-web: MLAS, wasm execution provider, `ort-wasm-simd-threaded.wasm` with
 *     numThreads = 1 (since 1.19 this is the only CPU build ORT ships; with one thread it starts
 *     no pthread workers).
 *
 * Both libraries keep the frozen weight W prepacked between calls (XNNPACK caches its operator
 * per weight tensor; ORT prepacks a constant initializer at session creation), which is what a
 * LoRA forward over frozen base weights does too. The inputs are the benchmark's own data;
 * `run()` times the GEMM plus only the copies the library forces (see each peer).
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { setThreadsCount, setWasmPaths, getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import * as ort from 'onnxruntime-web';

/** A peer library's single-threaded WASM GEMM, ready to time. */
export interface PeerGemm {
  name: string;
  /** computes Y[M,N] = X[M,K]·W[N,K]ᵀ once (f32) */
  run(): Promise<void> | void;
  /** Y[M,N] from the latest run(), copied out (for checking; not part of what is timed). */
  read(): Promise<Float32Array>;
  dispose(): void;
}

const require = createRequire(import.meta.url);

/** The inputs both peers multiply: X[M,K] and W[N,K], row-major (the benchmark's own data). */
export interface PeerInputs {
  x: Float32Array;
  w: Float32Array;
}

function checkInputs(M: number, N: number, K: number, { x, w }: PeerInputs): PeerInputs {
  if (x.length !== M * K) throw new Error(`peer inputs: x has ${x.length} elements, expected M*K = ${M * K}`);
  if (w.length !== N * K) throw new Error(`peer inputs: w has ${w.length} elements, expected N*K = ${N * K}`);
  return { x, w };
}

// ---------------------------------------------------------------------------------------------
// tfjs-backend-wasm (XNNPACK)

let tfjsReady: Promise<void> | undefined;

/** Initialise the tfjs wasm backend once per process: SIMD build, one thread. */
function initTfjsWasm(): Promise<void> {
  tfjsReady ??= (async () => {
    // Node never gets the threaded build (tfjs reports WASM_HAS_MULTITHREAD_SUPPORT = false when
    // IS_NODE), so the choice is between the plain and the SIMD binary. Point every name at the
    // SIMD file so the plain one can never be picked, and refuse to go on without SIMD.
    if (!(await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT'))) {
      throw new Error('tfjs-backend-wasm: this runtime reports no WebAssembly SIMD support');
    }
    const simd = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm');
    setWasmPaths({
      'tfjs-backend-wasm.wasm': simd,
      'tfjs-backend-wasm-simd.wasm': simd,
      'tfjs-backend-wasm-threaded-simd.wasm': simd,
    });
    setThreadsCount(1);
    if (!(await tf.setBackend('wasm'))) throw new Error('tfjs-backend-wasm: setBackend("wasm") failed');
    await tf.ready();
    if (getThreadsCount() !== 1) throw new Error(`tfjs-backend-wasm: ${getThreadsCount()} threads, expected 1`);
  })();
  return tfjsReady;
}

/**
 * @tensorflow/tfjs-backend-wasm (XNNPACK fully-connected operator), SIMD build, one thread.
 *
 * tfjs sends BatchMatMul to XNNPACK only when neither operand is transposed (transposeB = true
 * falls back to a scalar blocked loop), so W is handed over once as Wᵀ[K,N]; XNNPACK packs it on
 * the first call and caches the operator on that weight tensor. The wasm backend runs kernels
 * synchronously inside `tf.matMul`, so `run()` needs no read-back to finish the work.
 */
export async function tfjsWasmGemm(M: number, N: number, K: number, inputs: PeerInputs): Promise<PeerGemm> {
  await initTfjsWasm();
  const { x, w } = checkInputs(M, N, K, inputs);
  const wT = new Float32Array(K * N); // Wᵀ[K,N], a one-time layout change outside the timing
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) wT[k * N + n] = w[n * K + k];
  const xT = tf.tensor2d(x, [M, K], 'float32');
  const wTT = tf.tensor2d(wT, [K, N], 'float32');
  let y: tf.Tensor | undefined;
  return {
    name: 'tfjs-wasm (XNNPACK)',
    run() {
      const next = tf.matMul(xT, wTT, false, false);
      y?.dispose();
      y = next;
    },
    async read() {
      if (!y) throw new Error('tfjs-wasm peer: read() before run()');
      return (await y.data()) as Float32Array;
    },
    dispose() {
      y?.dispose();
      xT.dispose();
      wTT.dispose();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// onnxruntime-web (MLAS)

/** Protocol-buffer encoding, just enough for a one-node ONNX model. */
const pb = {
  varint(v: number): number[] {
    const out: number[] = [];
    while (v > 127) {
      out.push((v % 128) | 128);
      v = Math.floor(v / 128);
    }
    out.push(v);
    return out;
  },
  concat(parts: (Uint8Array | number[])[]): Uint8Array {
    const total = parts.reduce((s, p) => s + p.length, 0);
    const out = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  },
  /** field with wire type 0 (varint) */
  int(field: number, v: number): number[] {
    return [...pb.varint(field * 8), ...pb.varint(v)];
  },
  /** field with wire type 2 (length-delimited): bytes, string or sub-message */
  bytes(field: number, body: Uint8Array | string): Uint8Array {
    const b = typeof body === 'string' ? new TextEncoder().encode(body) : body;
    return pb.concat([pb.varint(field * 8 + 2), pb.varint(b.length), b]);
  },
  msg(field: number, parts: (Uint8Array | number[])[]): Uint8Array {
    return pb.bytes(field, pb.concat(parts));
  },
};

const ONNX_FLOAT = 1; // TensorProto.DataType.FLOAT
const ONNX_ATTR_INT = 2; // AttributeProto.AttributeType.INT

/** ValueInfoProto for a float tensor of fixed shape. */
function onnxValueInfo(field: number, name: string, dims: number[]): Uint8Array {
  const shape = dims.map((d) => pb.msg(1, [pb.int(1, d)])); // TensorShapeProto.dim { dim_value }
  const tensorType = pb.msg(1, [pb.int(1, ONNX_FLOAT), pb.msg(2, shape)]); // TypeProto.tensor_type
  return pb.msg(field, [pb.bytes(1, name), pb.msg(2, [tensorType])]);
}

/**
 * ONNX ModelProto (IR 8, opset 13) with one node `Y = Gemm(X, W, transB=1)`, X[M,K] an input,
 * W[N,K] a constant initializer (prepacked by ORT once).
 */
function onnxGemmModel(M: number, N: number, K: number, w: Float32Array): Uint8Array {
  const node = pb.msg(1, [
    pb.bytes(1, 'X'),
    pb.bytes(1, 'W'),
    pb.bytes(2, 'Y'),
    pb.bytes(3, 'gemm'),
    pb.bytes(4, 'Gemm'),
    pb.msg(5, [pb.bytes(1, 'transB'), pb.int(3, 1), pb.int(20, ONNX_ATTR_INT)]),
  ]);
  const graph: Uint8Array[] = [node, pb.bytes(2, 'gemm')];
  const raw = new Uint8Array(w.buffer, w.byteOffset, w.byteLength); // little-endian f32
  graph.push(pb.msg(5, [pb.int(1, N), pb.int(1, K), pb.int(2, ONNX_FLOAT), pb.bytes(8, 'W'), pb.bytes(9, raw)]));
  graph.push(onnxValueInfo(11, 'X', [M, K]));
  graph.push(onnxValueInfo(12, 'Y', [M, N]));
  return pb.concat([
    pb.int(1, 8), // ir_version
    pb.bytes(2, 'wasmformers-bench'), // producer_name
    pb.msg(7, graph),
    pb.msg(8, [pb.int(2, 13)]), // opset_import { domain "", version 13 }
  ]);
}

let ortConfigured = false;

/** Point onnxruntime-web at its files in node_modules: default (SIMD) build, one thread. */
function configureOrt(): void {
  if (ortConfigured) return;
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.simd = true; // checks fixed-width SIMD support and fails loudly without it
  ort.env.wasm.proxy = false;
  ort.env.wasm.wasmPaths = {
    mjs: pathToFileURL(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.mjs')).href,
    wasm: pathToFileURL(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm')).href,
  };
  ort.env.logLevel = 'error';
  ortConfigured = true;
}

/**
 * onnxruntime-web (MLAS SGEMM), wasm execution provider, one thread, a hand-written one-node
 * `Gemm(transB=1)` model. W is a constant initializer, which ORT prepacks once at session
 * creation (as XNNPACK keeps its packed weights).
 *
 * `session.run` on the wasm EP always copies X into the wasm heap and Y back out to a fresh JS
 * Float32Array; those copies (M·K + M·N floats) are forced by the library and are timed with it.
 */
export async function onnxruntimeWebGemm(M: number, N: number, K: number, inputs: PeerInputs): Promise<PeerGemm> {
  configureOrt();
  const { x, w } = checkInputs(M, N, K, inputs);
  const model = onnxGemmModel(M, N, K, w);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  const feeds: Record<string, ort.Tensor> = { X: new ort.Tensor('float32', x, [M, K]) };
  let y: ort.Tensor | undefined;
  return {
    name: 'onnxruntime-web (MLAS)',
    async run() {
      const out = await session.run(feeds);
      y = out.Y;
    },
    async read() {
      if (!y) throw new Error('onnxruntime-web peer: read() before run()');
      return (await y.getData()) as Float32Array;
    },
    dispose() {
      void session.release();
    },
  };
}
