/**
 * What `serve` serves: one base model, its tokenizer and chat format, every adapter beside it
 * (each loaded once, applied per sequence), and the scheduler that decodes them in batches.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { loadModel, formatLoadReport } from '../checkpoint/load.ts';
import { adapterBaseModel } from '../checkpoint/peft.ts';
import { loadServedAdapter, type ServedAdapter } from '../model/adapters.ts';
import { BatchDecoder } from '../model/batch_decode.ts';
import type { LlamaModel } from '../model/llama.ts';
import type { Activations } from '../model/options.ts';
import { headDim } from '../model/config.ts';
import { blockFallbackNote, describeWeights } from '../model/weights.ts';
import { MAX_MEMORY_BYTES } from '../runtime/arena.ts';
import { loadCore, type CoreKind } from '../runtime/core.ts';
import { spawnWorkerThread } from '../runtime/threads.ts';
import type { WeightType } from '../runtime/kernels.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { findChatTemplate, loadTokenizer } from '../tokenizer/load.ts';
import { chatFormat, type ChatFormat } from './chat.ts';
import { Engine } from './engine.ts';

/** What to load and the scheduler's limits. */
export interface ServeOptions {
  /** the base model: a Hugging Face folder or a checkpoint file */
  checkpoint: string;
  /** the name of the base in `model` (default: the checkpoint's folder or file name) */
  name?: string;
  /** PEFT adapter folders by the name requests use */
  adapters: { name: string; dir: string }[];
  /** tokenizer file or folder (default: a GGUF checkpoint's own, the checkpoint's folder when it holds one, else the bundled Llama 2 tokenizer) */
  tokenizer?: string;
  weightType: WeightType;
  /** keep each frozen matrix as the checkpoint stores it (`--dtype stored`; weightType is then unused) */
  asStored?: boolean;
  /** what generation feeds block-quantized weights (ModelOptions.activations; default int8) */
  activations?: Activations;
  core?: CoreKind | 'auto';
  /** threads that run the kernels (default 1) */
  threads?: number;
  /** sequences decoding at once (KV cache slots) */
  maxRunning: number;
  /** requests waiting beyond those; one more is a 429 */
  maxQueue: number;
  /** positions of each KV cache: prompt plus new tokens (at most the model's) */
  contextLength?: number;
  /** seconds a request may take */
  deadlineSeconds: number;
}

/** A loaded model ready to serve. */
export interface Served {
  name: string;
  model: LlamaModel;
  tok: Tokenizer;
  chat: ChatFormat;
  adapters: Map<string, ServedAdapter>;
  engine: Engine;
  /** positions a prompt and its new tokens may take */
  contextLength: number;
  /** a line per thing loaded, for the console */
  summary: string[];
}

/** The tokenizer path to use: the option, else a GGUF file's own, else the checkpoint folder's own when it has one. */
function tokenizerPath(o: ServeOptions): string | undefined {
  if (o.tokenizer) return o.tokenizer;
  if (o.checkpoint.endsWith('.gguf') && existsSync(o.checkpoint) && statSync(o.checkpoint).isFile())
    return o.checkpoint;
  const dir = existsSync(o.checkpoint) && statSync(o.checkpoint).isDirectory() ? o.checkpoint : undefined;
  return dir && ['tokenizer.json', 'tokenizer.model'].some((f) => existsSync(join(dir, f))) ? dir : undefined;
}

/** The local base an adapter names (base_model_name_or_path), or undefined when it names none that exists here. */
function adapterBase(dir: string): string | undefined {
  try {
    return adapterBaseModel(dir);
  } catch {
    return undefined;
  }
}

/**
 * Loads the base, the tokenizer, the chat format and every adapter; errors name the file.
 * @example
 * const served = await loadServed({ checkpoint: 'base', adapters: [{ name: 'alpaca', dir: 'output/adapter' }],
 *   weightType: WeightType.F32, maxRunning: 16, maxQueue: 64, deadlineSeconds: 600 });
 * const server = await listen(createApp(served, { bodyLimitBytes: 1 << 20 }).fetch, '127.0.0.1', 8080);
 */
export async function loadServed(o: ServeOptions): Promise<Served> {
  const names = new Set<string>();
  const name = o.name ?? basename(o.checkpoint.replace(/\/+$/, ''));
  for (const a of [{ name }, ...o.adapters]) {
    if (names.has(a.name))
      throw new Error(`--adapter ${a.name}: the name is taken (the base is ${name}); give each adapter its own name`);
    names.add(a.name);
  }
  const loadedTok = await loadTokenizer(tokenizerPath(o));
  const tok = loadedTok.tokenizer;
  const chat = chatFormat(tok, await findChatTemplate(loadedTok));
  const core = await loadCore({ kind: o.core ?? 'auto', threads: o.threads, spawnThread: spawnWorkerThread });
  const summary: string[] = [];
  const model = await loadModel(
    core,
    o.checkpoint,
    { mode: 'finetune', weightType: o.weightType, asStored: o.asStored, activations: o.activations },
    {
      report: (r) => {
        const s = formatLoadReport(r);
        if (s) summary.push(s);
      },
    },
  );
  const c = model.config;
  const fallback = blockFallbackNote(c, model.weights.options);
  if (fallback) summary.push(fallback);
  if (tok.vocabSize > c.vocabSize)
    throw new Error(
      `${loadedTok.source}: the tokenizer has ${tok.vocabSize} tokens, more than the model's vocabulary of ${c.vocabSize} (${o.checkpoint}); give the model's own tokenizer with --tokenizer`,
    );
  const adapters = new Map<string, ServedAdapter>();
  for (const a of o.adapters) {
    try {
      adapters.set(a.name, await loadServedAdapter(core, c, a.name, a.dir));
    } catch (err) {
      throw new Error(`--adapter ${a.name}: ${(err as Error).message}`);
    }
    const trainedOn = adapterBase(a.dir);
    if (trainedOn && trainedOn !== resolve(o.checkpoint))
      summary.push(
        `warning: adapter ${a.name} names ${trainedOn} as its base, not ${resolve(o.checkpoint)}; its answers assume that base`,
      );
  }
  const contextLength = Math.min(o.contextLength ?? c.maxSeqLen, c.maxSeqLen);
  const maxRank = Math.max(
    1,
    ...[...adapters.values()].flatMap((a) => a.layers.flatMap((l) => Object.values(l).map((f) => f!.rank))),
  );
  const cacheBytes = o.maxRunning * contextLength * c.nLayers * 2 * c.nKvHeads * headDim(c) * 4,
    GiB = 2 ** 30;
  if (core.arena.used + cacheBytes > MAX_MEMORY_BYTES) {
    throw new Error(
      `KV caches for ${o.maxRunning} sequences of ${contextLength} positions take ${(cacheBytes / GiB).toFixed(2)} GiB, and the model ${(core.arena.used / GiB).toFixed(2)} GiB: ` +
        `more than the 4 GiB of one WebAssembly memory; lower --max_running or --max_seq_length`,
    );
  }
  const decoder = new BatchDecoder(model, o.maxRunning, contextLength, maxRank);
  const engine = new Engine(decoder, {
    maxQueue: o.maxQueue,
    deadlineMs: o.deadlineSeconds * 1000,
    vocabLimit: tok.vocabSize,
  });
  summary.unshift(
    `model ${name}: ${o.checkpoint} (${c.nLayers} layers, hidden ${c.dim}, vocabulary ${c.vocabSize}, ${describeWeights(model.weights.options)}, ${core.kind} core, ${core.threads} thread${core.threads > 1 ? 's' : ''})`,
    ...[...adapters.values()].map((a) => `adapter ${a.name}: ${a.dir} (${(a.bytes / 2 ** 20).toFixed(2)} MiB)`),
    `tokenizer: ${loadedTok.source}; chat: ${chat.describe}`,
    `${o.maxRunning} sequences at once of up to ${contextLength} positions, ${o.maxQueue} more waiting; memory in use ${(core.arena.used / 2 ** 20).toFixed(0)} MiB`,
  );
  return { name, model, tok, chat, adapters, engine, contextLength, summary };
}
