/**
 * Llama.fromPretrained with paths (Node, Deno, Bun): a Hugging Face folder, a `.safetensors` or
 * MindSpore `.ckpt` file (config.json or params.json beside it), a GGUF file (its own config and
 * tokenizer; its weights as stored unless `dtype` says otherwise), or a PEFT adapter folder whose
 * adapter_config.json names its base; bytes go to the portable Llama (src/api/llama.ts). An
 * adapter may be a folder or bytes, onto a base given either way.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadModel } from '../checkpoint/load.ts';
import { adapterBaseModel, openAdapter } from '../checkpoint/peft.ts';
import { adapterFromBytes, type AdapterFiles } from '../checkpoint/peft_adapter.ts';
import { defaultThreads, spawnWorkerThread } from '../runtime/threads.ts';
import { defaultDtype } from '../model/weight_dtype.ts';
import { loadTokenizer } from '../tokenizer/load.ts';
import {
  coreOf,
  Llama as PortableLlama,
  modelFromBytes,
  modelOptionsOf,
  type PretrainedFiles,
  type PretrainedOptions,
} from './llama.ts';

/** What a model read from paths is made with besides its weights. */
export interface NodePretrainedOptions extends Omit<PretrainedOptions, 'adapter'> {
  /** a PEFT adapter to load onto the base (its LoRA settings and factors): its folder, or its files' bytes */
  adapter?: string | AdapterFiles;
  /** the tokenizer file or folder, when it is not beside the weights (or inside a GGUF file) */
  tokenizer?: string;
}

/**
 * A Llama-family model and its tokenizer, read from files or bytes.
 * @example
 * import { Llama } from 'wasmformers';
 * const llama = await Llama.fromPretrained('models/Llama-3.2-1B', { dtype: 'int8' });
 * console.log(await llama.complete('The capital of France is', { maxNewTokens: 8 }));
 */
export class Llama extends PortableLlama {
  /**
   * Makes a model from a path (a model folder, a `.safetensors` or `.ckpt` file, or a PEFT
   * adapter folder) or from the bytes of its files. The tokenizer is the one beside the weights
   * (tokenizer.json, else tokenizer.model) unless `tokenizer` names another.
   * @example
   * const base = await Llama.fromPretrained('models/tiny-llama', { loraConfig: { rank: 8, alpha: 16, dropout: 0, targetModules: ['wq', 'wv'] } });
   * const tuned = await Llama.fromPretrained('models/tiny-llama', { adapter: 'out/adapter' });
   */
  static override async fromPretrained(
    source: string | PretrainedFiles,
    given: NodePretrainedOptions = {},
  ): Promise<Llama> {
    const options = { threads: defaultThreads(), spawnThread: spawnWorkerThread, ...given };
    if (typeof source !== 'string') {
      const a = options.adapter;
      const made = await modelFromBytes(
        source,
        options,
        a === undefined ? undefined : typeof a === 'string' ? openAdapter(a) : adapterFromBytes(a),
      );
      return new Llama(made.model, made.tokenizer, 'bytes');
    }
    if (!existsSync(source)) throw new Error(`${source}: no such file or folder`);
    const folder = statSync(source).isDirectory();
    const adapter = options.adapter ?? (folder && existsSync(join(source, 'adapter_config.json')) ? source : undefined);
    const base = adapter === source ? adapterBaseModel(source) : source;
    const baseFolder = statSync(base).isDirectory() ? base : dirname(base);
    const gguf = base.endsWith('.gguf') && !statSync(base).isDirectory();
    const { tokenizer } = await loadTokenizer(options.tokenizer ?? (gguf ? base : baseFolder));
    const dtype = options.dtype ?? defaultDtype(base);
    const model = await loadModel(await coreOf(options), base, modelOptionsOf({ ...options, dtype }), {
      adapter: typeof adapter === 'string' ? adapter : adapter && adapterFromBytes(adapter),
    });
    return new Llama(model, tokenizer, resolve(base));
  }
}
