/**
 * Loads the compute core: the relaxed-SIMD build when the engine accepts it (enabling it on
 * Node 20 first), otherwise the plain SIMD128 build. `WASMFORMERS_CORE=simd|relaxed` or the
 * `kind` option forces one, so tests run both.
 */
import { relaxedCore, relaxedSharedCore, simdCore, simdSharedCore } from '../../build/cores.ts';
import { Arena, SHARED_INITIAL_BYTES } from './arena.ts';
import { isShared } from './host.ts';
import { Kernels, runSlice, type CoreExports } from './kernels.ts';
import { ThreadPool, type SpawnThread } from './pool.ts';

/** Which build of the core is running. */
export type CoreKind = 'relaxed' | 'simd';

/** Options for loadCore. */
export interface CoreOptions {
  /** 'auto' (default) picks relaxed when supported; the env var WASMFORMERS_CORE overrides 'auto'. */
  kind?: CoreKind | 'auto';
  /** Memory to import; a shared one (sharedCoreMemory) selects the builds that declare it shared. */
  memory?: WebAssembly.Memory;
  /**
   * Threads that run the kernels (default 1): more need `spawnThread` and a shared memory (one
   * is made when `memory` is not given). Results are bit for bit those of one thread.
   */
  threads?: number;
  /** Starts a kernel thread (src/runtime/threads.ts has the one for Node, Deno and Bun). */
  spawnThread?: SpawnThread;
}

/** A loaded core: its kernels, its memory arena, and which build it is. */
export interface Core {
  kind: CoreKind;
  arena: Arena;
  kernels: Kernels;
  /** Threads its kernels run on, this one included. */
  threads: number;
  /** Ends its kernel threads (a core of one thread has none); the core must not be used after. */
  close(): void;
}

let relaxedFlag: Promise<void> | undefined;

/**
 * On Node 20, relaxed SIMD sits behind a V8 flag that must be set before compiling. One promise
 * for every caller: cores loaded at once all wait for the flag (one that found it "tried" but not
 * yet set would have validated the relaxed build without it and silently taken the plain one).
 */
function enableRelaxedSimd(): Promise<void> {
  relaxedFlag ??= setRelaxedFlag();
  return relaxedFlag;
}

async function setRelaxedFlag(): Promise<void> {
  const g = globalThis as { process?: { versions?: { node?: string } } };
  if (!g.process?.versions?.node) return;
  try {
    const v8 = await import('node:v8');
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    // Not Node after all, or flags are locked: feature detection below decides.
  }
}

function decode(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

const modules = new Map<string, WebAssembly.Module>();

/** Largest memory, in 64 KiB pages, of the shared-memory builds (asconfig.json): 4 GiB. */
const SHARED_MAX_PAGES = 65536;

/** A memory the ranks of one job share: each rank's core imports it and takes chunks of its own. */
export function sharedCoreMemory(): WebAssembly.Memory {
  return new WebAssembly.Memory({ initial: SHARED_INITIAL_BYTES / 65536, maximum: SHARED_MAX_PAGES, shared: true });
}

/** Whether this engine can compile the relaxed-SIMD core. */
export async function relaxedSupported(): Promise<boolean> {
  await enableRelaxedSimd();
  return WebAssembly.validate(decode(relaxedCore));
}

function requestedKind(opt: CoreOptions['kind']): CoreKind | 'auto' {
  if (opt && opt !== 'auto') return opt;
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.WASMFORMERS_CORE;
  if (env === undefined || env === '' || env === 'auto') return 'auto';
  if (env !== 'relaxed' && env !== 'simd') throw new Error(`WASMFORMERS_CORE=${env}: expected relaxed, simd or auto`);
  return env;
}

/** Compiles (once per kind) and instantiates a core with its own arena and workspace. */
export async function loadCore(options: CoreOptions = {}): Promise<Core> {
  const want = requestedKind(options.kind);
  const relaxedOk = await relaxedSupported();
  if (want === 'relaxed' && !relaxedOk)
    throw new Error('this engine does not support relaxed SIMD (the relaxed core was requested)');
  const kind: CoreKind = want === 'auto' ? (relaxedOk ? 'relaxed' : 'simd') : want;
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1)
    throw new RangeError(`threads must be a whole number ≥ 1, got ${threads}`);
  if (threads > 1 && !options.spawnThread) throw new Error('threads > 1 needs a spawnThread to start them');
  const memory = options.memory ?? (threads > 1 ? sharedCoreMemory() : new WebAssembly.Memory({ initial: 16 }));
  if (threads > 1 && !isShared(memory)) throw new Error('threads > 1 need a shared memory (sharedCoreMemory)');
  const shared = isShared(memory);
  const build = `${kind}${shared ? '-shared' : ''}`;
  let module = modules.get(build);
  if (!module) {
    module = await WebAssembly.compile(
      decode(
        shared
          ? kind === 'relaxed'
            ? relaxedSharedCore
            : simdSharedCore
          : kind === 'relaxed'
            ? relaxedCore
            : simdCore,
      ),
    );
    modules.set(build, module);
  }
  const instance = await WebAssembly.instantiate(module, {
    env: {
      memory,
      abort(): never {
        throw new Error('wasmformers core: abort');
      },
    },
  });
  const exports = instance.exports as unknown as CoreExports;
  const arena = new Arena(memory, exports.heap_base());
  const workspace = arena.alloc(exports.workspace_bytes());
  exports.set_workspace(workspace);
  const pool =
    threads > 1
      ? await ThreadPool.start(
          threads,
          module,
          memory,
          () => arena.alloc(exports.workspace_bytes()),
          options.spawnThread!,
          (s) => runSlice(exports, s),
        )
      : undefined;
  return { kind, arena, kernels: new Kernels(exports, pool), threads, close: () => pool?.close() };
}
