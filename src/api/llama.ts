/**
 * The high-level model: a Llama-family network with its tokenizer, made in one call from the
 * bytes of its files (this module runs in browsers too; src/api/llama_node.ts adds paths), that
 * streams generated text and exposes its low-level steps. LoRA, when asked for, is initialised as
 * PEFT does when the model is made (LlamaModel's constructor), never left to the caller.
 */
import { loadModelFromBytes } from '../checkpoint/load_weights.ts';
import { adapterFromBytes, type Adapter, type AdapterFiles } from '../checkpoint/peft_adapter.ts';
import { decodeUtf8Text, parseJson } from '../data/json_text.ts';
import { generateIds } from '../generate/generate.ts';
import type { SamplingOptions } from '../generate/sampling.ts';
import type { Batch } from '../model/batch.ts';
import { configFromHF, type LlamaConfig } from '../model/config.ts';
import type { LlamaModel, StepResult } from '../model/llama.ts';
import type { LoraConfig } from '../model/lora.ts';
import { parseActivations, type Activations, type ModelOptions } from '../model/options.ts';
import { loadCore, type Core, type CoreKind } from '../runtime/core.ts';
import { weightStorage } from '../model/weight_dtype.ts';
import type { SpawnThread } from '../runtime/pool.ts';
import { tokenizerFromFiles, type TokenizerFiles } from '../tokenizer/files.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';

/**
 * How the frozen base weights are stored: f32, bf16 (half the bytes), int8 (a quarter, per-row
 * scales), llama.cpp's blocks q8_0, q4_0, q5_0 (32 values with an f16 scale), q4_1, q5_1 (with an f16
 * min too), q4_k, q5_k, q6_k (256), or
 * 'stored': each matrix as the checkpoint stores it (a GGUF file's blocks as they are, a Q4_K_M
 * file's mix of types included; bf16 as bf16; f32 and f16 as f32).
 */
export type Dtype =
  | 'f32'
  | 'bf16'
  | 'int8'
  | 'q8_0'
  | 'q4_0'
  | 'q5_0'
  | 'q4_1'
  | 'q5_1'
  | 'q4_k'
  | 'q5_k'
  | 'q6_k'
  | 'stored';

/** What a model is made with besides its files. */
export interface PretrainedOptions {
  /** storage of the frozen base weights (default 'f32'; Node's Llama: 'stored' for a GGUF file) */
  dtype?: Dtype;
  /**
   * what generation feeds block-quantized weights (q8_0, q4_0, q5_0, q4_1, q5_1, q4_k, q5_k, q6_k): 'int8' (default) rounds
   * the activations per block (of 32 values, 256 for q4_k, q5_k and q6_k) and multiplies in integers, as
   * llama.cpp does (faster); 'f32' keeps them exact
   */
  activations?: Activations;
  /** LoRA adapters to train (A random from `seed`, B zero, as PEFT initialises them) */
  loraConfig?: LoraConfig;
  /** seed of the LoRA initialisation and of dropout (default 0) */
  seed?: number;
  /** the compute core to use: a loaded one (to share its memory), or which build to load ('auto', the default: the fastest the engine runs) */
  core?: Core | CoreKind | 'auto';
  /** threads that run the kernels of a core loaded here (default 1; Node's Llama: this machine's cores); more need `spawnThread` */
  threads?: number;
  /** starts a kernel thread (Node's Llama brings one that starts worker threads) */
  spawnThread?: SpawnThread;
  /**
   * a PEFT adapter to load onto the base (its LoRA settings and factors; `loraConfig`, if also
   * given, must be the same), as the bytes of its two files, such as a fine-tune's `toFiles()`
   */
  adapter?: AdapterFiles;
}

/** The options that choose how the model is held. */
type HoldOptions = Pick<PretrainedOptions, 'dtype' | 'activations' | 'loraConfig' | 'seed'>;
/** The options that choose the compute core. */
type CoreOptions = Pick<PretrainedOptions, 'core' | 'threads' | 'spawnThread'>;

/** A model's files as bytes (fetched, read, or made in memory). */
export interface PretrainedFiles {
  /** config.json, as bytes or parsed */
  config: Uint8Array | object;
  /** the weights: one safetensors file (any supported layout) */
  weights: Uint8Array;
  /** tokenizer.json or tokenizer.model */
  tokenizer: Uint8Array;
  /** tokenizer_config.json, beside a tokenizer.json (added tokens, chat template) */
  tokenizerConfig?: Uint8Array;
}

/** How to generate text. */
export interface TextGenerationOptions extends Partial<SamplingOptions> {
  /** new tokens at most (default 64) */
  maxNewTokens?: number;
  /** seed of sampling (doSample) */
  seed?: number;
  /** more ids to stop after, besides the model's eos */
  stopIds?: readonly number[];
  /** stops the generation: the iterator throws the signal's reason */
  signal?: AbortSignal;
}

/** One generated token and the text it adds (empty while a character's bytes are incomplete, and for special tokens). */
export interface GeneratedPiece {
  text: string;
  id: number;
}

/** The bytes of a tokenizer file as TokenizerFiles: JSON when it starts with '{', else a SentencePiece model. */
function tokenizerFilesOf(bytes: Uint8Array, config: Uint8Array | null = null): TokenizerFiles {
  return bytes[0] === 0x7b
    ? { format: 'tokenizer.json', json: bytes, config }
    : { format: 'tokenizer.model', model: bytes };
}

/** The model options of `options`: a frozen base (finetune mode) with the LoRA asked for. */
export function modelOptionsOf(options: HoldOptions): ModelOptions {
  const dtype = options.dtype ?? 'f32';
  return {
    mode: 'finetune',
    ...weightStorage(dtype, 'dtype'),
    activations: parseActivations(options.activations ?? 'int8', 'activations'),
    lora: options.loraConfig,
    seed: options.seed ?? 0,
  };
}

/** The core `options.core` asks for (loaded when a kind is given). */
export async function coreOf(options: CoreOptions): Promise<Core> {
  return typeof options.core === 'object'
    ? options.core
    : loadCore({ kind: options.core ?? 'auto', threads: options.threads, spawnThread: options.spawnThread });
}

/**
 * The network and tokenizer of a model's files given as bytes, with `adapter` (opened, then
 * closed here) loaded onto the base.
 */
export async function modelFromBytes(
  files: PretrainedFiles,
  options: HoldOptions & CoreOptions,
  adapter?: Adapter,
): Promise<{ model: LlamaModel; tokenizer: Tokenizer }> {
  try {
    const json =
      files.config instanceof Uint8Array
        ? parseJson(decodeUtf8Text(files.config, 'config.json'), 'config.json')
        : files.config;
    const config: LlamaConfig = configFromHF(json as Record<string, unknown>, 'config.json');
    const tokenizer = tokenizerFromFiles(tokenizerFilesOf(files.tokenizer, files.tokenizerConfig ?? null), 'tokenizer');
    const model = await loadModelFromBytes(await coreOf(options), files.weights, config, modelOptionsOf(options), {
      where: 'model.safetensors',
      adapter,
    });
    return { model, tokenizer };
  } finally {
    adapter?.tensors.close();
  }
}

/**
 * A Llama-family model and its tokenizer.
 * @example
 * const llama = await Llama.fromPretrained({ config, weights, tokenizer }, { dtype: 'bf16' });
 * for await (const { text } of llama.generate('Once upon a time', { maxNewTokens: 20 })) console.log(text);
 */
export class Llama {
  /** The network: its config, weights (`model.weights.trainable` includes the LoRA factors) and low-level steps. */
  readonly model: LlamaModel;
  readonly tokenizer: Tokenizer;
  /** Where the weights came from (a path, or 'bytes'): base_model_name_or_path of a saved adapter. */
  readonly source: string;

  constructor(model: LlamaModel, tokenizer: Tokenizer, source: string) {
    this.model = model;
    this.tokenizer = tokenizer;
    this.source = source;
  }

  /**
   * Makes a model from the bytes of its files: config.json, one safetensors file, and its
   * tokenizer (and, with `adapter`, a PEFT adapter's files loaded onto it). In Node, the
   * `wasmformers` entry's Llama.fromPretrained takes paths as well.
   * @example
   * const get = async (name: string) => new Uint8Array(await (await fetch(`/model/${name}`)).arrayBuffer());
   * const llama = await Llama.fromPretrained(
   *   { config: await get('config.json'), weights: await get('model.safetensors'), tokenizer: await get('tokenizer.json') },
   *   { loraConfig: { rank: 8, alpha: 16, dropout: 0, targetModules: ['wq', 'wv'] } },
   * );
   */
  static async fromPretrained(files: PretrainedFiles, options: PretrainedOptions = {}): Promise<Llama> {
    const { model, tokenizer } = await modelFromBytes(
      files,
      options,
      options.adapter && adapterFromBytes(options.adapter),
    );
    return new Llama(model, tokenizer, 'bytes');
  }

  /** The model's config (sizes, special ids). */
  get config(): LlamaConfig {
    return this.model.config;
  }

  /**
   * Streams the continuation of `prompt` (encoded with the tokenizer's BOS) as text pieces with
   * their ids; stops at the eos, a stop id, `maxNewTokens`, or when `signal` aborts.
   * @example
   * const stop = new AbortController();
   * for await (const piece of llama.generate('The capital of France is', { maxNewTokens: 32, signal: stop.signal })) {
   *   process.stdout.write(piece.text);
   * }
   */
  async *generate(
    prompt: string,
    options: TextGenerationOptions = {},
  ): AsyncGenerator<GeneratedPiece, void, undefined> {
    const { signal, ...rest } = options;
    signal?.throwIfAborted();
    const promptIds = this.tokenizer.encode(prompt, { bos: true, eos: false });
    const ids: number[] = [];
    let shown = '';
    for (const id of generateIds(this.model, promptIds, {
      ...rest,
      maxNewTokens: rest.maxNewTokens ?? 64,
      vocabLimit: this.tokenizer.vocabSize,
    })) {
      ids.push(id);
      const text = this.tokenizer.decode(ids, { skipSpecialTokens: true });
      // Hold back a character whose bytes have not all come (decoded as U+FFFD so far).
      const piece = text.endsWith('\uFFFD') ? '' : text.slice(shown.length);
      if (piece) shown = text;
      yield { text: piece, id };
      await new Promise((resolve) => setTimeout(resolve, 0)); // a turn for timers and events: an abort arrives here
      signal?.throwIfAborted();
    }
  }

  /**
   * The whole continuation of `prompt` as one string (see generate).
   * @example
   * const answer = await llama.complete('Give three tips for staying healthy.', { maxNewTokens: 48 });
   */
  async complete(prompt: string, options: TextGenerationOptions = {}): Promise<string> {
    let text = '';
    for await (const piece of this.generate(prompt, options)) text += piece.text;
    return text;
  }

  /**
   * The loss (and logits, into `batch.logits`) of a batch of token rows, without gradients.
   * @example
   * const { loss } = llama.forward({ inputIds: Int32Array.from(llama.tokenizer.encode('Hello world')), batchSize: 1 });
   */
  forward(batch: Batch): StepResult {
    return this.model.forward(batch);
  }

  /**
   * The loss of a batch with its gradients added into the trainable tensors' (LoRA factors);
   * `model.weights.zeroGrads()` first starts them from zero.
   * @example
   * llama.model.weights.zeroGrads();
   * const { loss } = llama.forwardBackward({ inputIds, labels, batchSize: 4 });
   */
  forwardBackward(batch: Batch): StepResult {
    return this.model.forwardBackward(batch);
  }
}
