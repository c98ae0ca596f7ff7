/**
 * wasmformers as a library: the high-level API (Llama.fromPretrained, generate, complete,
 * finetune: src/api/), the compute core, the tokenizer, the data pipeline's reader, the model,
 * training steps and decoding (src/portable.ts, which runs in browsers too), and the entry points
 * that read files, and the OpenAI-compatible server (src/serve/). Its Llama is the portable one
 * with paths added.
 */
export * from './portable.ts';
export { loadChatTemplate, loadTokenizer, type LoadedTokenizer } from './tokenizer/load.ts';
export { ShardDataset } from './data/shard_reader.ts';
export { defaultThreads, spawnWorkerThread } from './runtime/threads.ts';
export { loadModel, openCheckpoint } from './checkpoint/load.ts';
export { Llama, type NodePretrainedOptions } from './api/llama_node.ts';
export { finetune, type FinetuneOptions, type TrainedAdapter } from './api/finetune_node.ts';
export { loadServed, type ServeOptions, type Served } from './serve/served.ts';
export { createApp, type AppOptions } from './serve/app.ts';
export { listen, type Listening } from './serve/listen.ts';
