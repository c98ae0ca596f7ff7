/**
 * Where a job's weights go before any is loaded: resident in the WebAssembly memory the ranks
 * share (rank 0 holds the frozen base, every rank its trainables and activations), or with the
 * blocks' frozen matrices outside it, held once and streamed into each rank layer by layer —
 * and a clear error naming what would fit when neither fits the 4 GiB one memory addresses or
 * the machine's memory.
 */
import { MAX_MEMORY_BYTES, SHARED_INITIAL_BYTES, sharedArenaBytes } from '../runtime/arena.ts';
import { WeightType, weightBytes } from '../runtime/kernels.ts';
import type { LlamaConfig } from './config.ts';
import type { ModelOptions } from './llama.ts';
import { activationPlan, formatBytes, weightPlan } from './plan.ts';
import { hostWeightBytes } from './weights.ts';

/** What a core of its own takes besides the plan: static data, kernel workspace, the first arena chunk. */
const CORE_BYTES = 20 * 1024 * 1024;
/** A rank's first allocation in a shared memory: the kernels' workspace (assembly/workspace.ts: 1.35 MiB), rounded up. */
const WORKSPACE_BYTES = 2 * 1024 * 1024;
/** Room left on the machine for the engine, the loader's buffers and the rest of the process. */
const PROCESS_BYTES = 1.5 * 1024 * 1024 * 1024;

/** The job to place. */
export interface PlacementRequest {
  config: LlamaConfig;
  /** the model's options, streamLayers aside */
  options: ModelOptions;
  ranks: number;
  /** ranks that hold a frozen base of their own: 1 (rank 0's, shared by every rank), or one per model-parallel slice */
  baseHolders: number;
  B: number;
  S: number;
  /** 'on', 'off' or 'auto' (stream only when the resident weights do not fit) */
  stream: string;
  /** memory of the machine */
  machineBytes: number;
  /** whether the ranks' cores share one memory (an msrun_launcher job, or threads), where each takes it in chunks; default: ranks > 1 */
  shared?: boolean;
  /** threads of each rank, each with a kernel workspace of its own (default 1) */
  threads?: number;
}

/** The decision and its sizes. */
export interface Placement {
  streamLayers: boolean;
  /** the shared WebAssembly memory of the whole job */
  wasmBytes: number;
  /** frozen weights outside it */
  hostBytes: number;
  /** one line for the log */
  summary: string;
}

const sum = (rows: { bytes: number }[]) => rows.reduce((a, r) => a + r.bytes, 0);

/** Bytes of the job's WebAssembly memory and of its weights outside it. */
function sizes(r: PlacementRequest, options: ModelOptions, ranks = r.ranks): { wasm: number; host: number } {
  const others = { ...options, sharedBase: { offsets: {} } },
    holders = Math.min(r.baseHolders, ranks);
  const activations = activationPlan(r.config, options, r.B, r.S);
  // A rank's bytes: its plan in allocation order, in the chunks its arena takes when the memory is shared.
  const rank = (o: ModelOptions) => {
    const rows = [...weightPlan(r.config, o), ...activations];
    return (r.shared ?? ranks > 1)
      ? sharedArenaBytes([...Array<number>(r.threads ?? 1).fill(WORKSPACE_BYTES), ...rows.map((row) => row.bytes)])
      : sum(rows) + CORE_BYTES;
  };
  const wasm =
    ((r.shared ?? ranks > 1) ? SHARED_INITIAL_BYTES : 0) + holders * rank(options) + (ranks - holders) * rank(others);
  return { wasm, host: hostWeightBytes(r.config, options) * holders };
}

/** Decides whether to stream the layers; throws, naming what would fit, when nothing does. */
export function placeWeights(r: PlacementRequest): Placement {
  const frozen = r.options.mode === 'finetune';
  if (r.stream === 'on' && !frozen)
    throw new Error(
      'stream_layers on: only frozen base weights stream (finetune, eval, predict), not --run_mode train',
    );
  const resident = sizes(r, r.options);
  const streamLayers = r.stream === 'on' || (r.stream === 'auto' && frozen && resident.wasm > MAX_MEMORY_BYTES);
  const options = { ...r.options, streamLayers };
  const { wasm, host } = streamLayers ? sizes(r, options) : resident;
  const fits = (o: ModelOptions, ranks: number) => {
    const s = sizes(r, o, ranks);
    return s.wasm <= MAX_MEMORY_BYTES && s.wasm + s.host + PROCESS_BYTES <= r.machineBytes;
  };
  if (wasm > MAX_MEMORY_BYTES || wasm + host + PROCESS_BYTES > r.machineBytes) {
    const why =
      wasm > MAX_MEMORY_BYTES
        ? `${formatBytes(wasm)} of WebAssembly memory for ${r.ranks} rank(s) exceed the ${formatBytes(MAX_MEMORY_BYTES)} the ranks share`
        : `${formatBytes(host)} of base weights outside the WebAssembly memory and ${formatBytes(wasm)} in it, with the process, exceed this machine's ${formatBytes(r.machineBytes)}`;
    const ideas: string[] = [];
    let most = r.ranks - 1;
    while (most >= 1 && !fits(options, most)) most--;
    if (most >= 1) ideas.push(`run at most ${most} rank(s)`);
    for (const [wt, name] of [
      [WeightType.BF16, 'bfloat16'],
      [WeightType.I8, 'int8'],
    ] as const) {
      const smaller = { ...r.options, weightType: wt, matrixTypes: undefined, streamLayers: frozen };
      if (frozen && weightBytes(wt) < weightBytes(r.options.weightType) && fits(smaller, r.ranks)) {
        ideas.push(
          `store the base as ${name} (param_init_type ${name}: ${formatBytes(sizes(r, smaller).host)} of streamed base weights)`,
        );
      }
    }
    if (!streamLayers && frozen && fits({ ...r.options, streamLayers: true }, r.ranks))
      ideas.push('stream the layers (--stream_layers on)');
    if (r.S > 64) ideas.push(`a shorter seq_length than ${r.S}`);
    if (r.B > 1) ideas.push(`a batch size below ${r.B}`);
    throw new Error(
      `memory plan before loading: ${why}; ${ideas.length ? ideas.join(', or ') : 'no smaller setting fits this machine'}`,
    );
  }
  const summary = streamLayers
    ? `weights: the blocks' frozen matrices outside the WebAssembly memory (${formatBytes(host)}, held once) and streamed into each rank layer by layer; WebAssembly memory of ${r.ranks} rank(s) ${formatBytes(wasm)}`
    : `weights: resident in the WebAssembly memory (${formatBytes(wasm)} for ${r.ranks} rank(s))`;
  return { streamLayers, wasmBytes: wasm, hostBytes: host, summary };
}
