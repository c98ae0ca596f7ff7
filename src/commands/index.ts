/** The subcommands of `wasmformers`, named as the seed's scripts are, each loaded when used. */
import type { CommandMain } from './run.ts';

/** A subcommand: a line of help and its main. */
export interface Command {
  about: string;
  load(): Promise<{ main: CommandMain }>;
}

/** Every subcommand by name. */
export const commands: Record<string, Command> = {
  info: { about: 'show which compute core runs here and how fast it multiplies', load: () => import('./info.ts') },
  logits: {
    about: 'print the last-position logits of --input_ids and a --greedy continuation, as JSON',
    load: () => import('./logits.ts'),
  },
  alpaca_converter: {
    about: 'turn Stanford Alpaca data into the conversation JSON llama_preprocess reads',
    load: () => import('./alpaca_converter.ts'),
  },
  llama_preprocess: {
    about: 'tokenize conversations (qa) or wikitext (wiki) into msgpack shards, as MindFormers does',
    load: () => import('./llama_preprocess.ts'),
  },
  tokenize: {
    about: 'print the ids of JSON strings read from stdin (or, with --decode, the text of ids)',
    load: () => import('./tokenize.ts'),
  },
  show_dataset: {
    about: 'summarize a dataset folder written by llama_preprocess, or print its records as JSON lines',
    load: () => import('./show_dataset.ts'),
  },
  convert_weight: {
    about: 'convert weights between Hugging Face (safetensors) and MindSpore (.ckpt) layouts',
    load: () => import('./convert_weight.ts'),
  },
  transform_ckpt: {
    about: 'split a checkpoint into model-parallel rank slices, or join rank slices back',
    load: () => import('./transform_ckpt.ts'),
  },
  msrun_launcher: {
    about:
      'run a command (run_mindformer) as N ranks, worker threads over one shared memory, as msrun_launcher.sh does',
    load: () => import('./msrun_launcher.ts'),
  },
  run_mindformer: {
    about: 'train, fine-tune, evaluate or generate with a MindFormers-style YAML config (--run_mode)',
    load: () => import('./run_mindformer.ts'),
  },
  transform_ckpt_lora: {
    about: 'merge LoRA adapters into the base weights (W += scale·B·A) and write a whole checkpoint',
    load: () => import('./transform_ckpt_lora.ts'),
  },
  init_checkpoint: {
    about: "write a randomly initialised model of a config's shape as a Hugging Face folder (sharded safetensors)",
    load: () => import('./init_checkpoint.ts'),
  },
  serve: {
    about: 'serve the model and its LoRA adapters over an OpenAI-compatible HTTP API, decoding requests in batches',
    load: () => import('./serve.ts'),
  },
  quickstart: {
    about:
      "the seed's quick start end to end (npm start): convert, tokenize, pre-train, LoRA fine-tune on 2 ranks, evaluate and generate before and after",
    load: () => import('./quickstart.ts'),
  },
};
