/**
 * wasmformers as a library: the compute core, the tokenizer, the data pipeline's reader, the
 * model, training steps and decoding (src/portable.ts, which runs in browsers too), and the entry
 * points that read files.
 */
export * from './portable.ts';
export { loadChatTemplate, loadTokenizer, type LoadedTokenizer } from './tokenizer/load.ts';
export { ShardDataset } from './data/shard_reader.ts';
export { loadModel, openCheckpoint } from './checkpoint/load.ts';
export { Llama, type NodePretrainedOptions } from './api/llama_node.ts';
export { finetune, type FinetuneConfig, type FinetuneOptions, type TrainedAdapter } from './api/finetune.ts';
export type { ReportPoint } from './train/report.ts';
