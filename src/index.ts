/**
 * wasmformers as a library: the compute core, the tokenizer, the data pipeline's reader, the
 * model, training steps and decoding (src/portable.ts, which runs in browsers too), and the entry
 * points that read files, and the OpenAI-compatible server.
 */
export * from './portable.ts';
export { loadChatTemplate, loadTokenizer, type LoadedTokenizer } from './tokenizer/load.ts';
export { ShardDataset } from './data/shard_reader.ts';
export { loadModel, openCheckpoint } from './checkpoint/load.ts';
export { loadServed, type ServeOptions, type Served } from './serve/served.ts';
export { createApp, type AppOptions } from './serve/app.ts';
export { listen, type Listening } from './serve/listen.ts';
