/**
 * wasmformers without a file system: everything here loads in browsers and web workers as well
 * as in Node, Deno and Bun (no `node:` module is imported where the engine has none). It takes
 * bytes rather than paths: a fetched `tokenizer.model` or `tokenizer.json`, safetensors file or
 * `config.json` object. src/index.ts adds the entry points that read files.
 */
export { loadCore, relaxedSupported, type Core, type CoreKind, type CoreOptions } from './runtime/core.ts';
export { Arena, MAX_MEMORY_BYTES } from './runtime/arena.ts';
export { runKernelThread, type SpawnThread, type ThreadHandle, type ThreadInit } from './runtime/pool.ts';
export {
  Kernels,
  WeightType,
  weightBytes,
  MAX_HEAD_DIM,
  MAX_DECODE_POSITIONS,
  type AdamWStep,
} from './runtime/kernels.ts';
export { Rng } from './runtime/random.ts';
export { SentencePieceProcessor } from './tokenizer/sentencepiece.ts';
export { LlamaTokenizer } from './tokenizer/llama.ts';
export { JsonTokenizer } from './tokenizer/json/tokenizer.ts';
export { tokenizerFromFiles, type TokenizerFiles } from './tokenizer/files.ts';
export type { Tokenizer, SpecialIds, DecodeIdsOptions } from './tokenizer/tokenizer.ts';
export { ChatTemplate, chatPromptIds, endOfTurnId, type ChatMessage } from './tokenizer/chat_template.ts';
export { alpacaToConversations } from './data/alpaca.ts';
export { renderConversation } from './data/conversation.ts';
export { qaRow, IGNORE_INDEX } from './data/qa.ts';
export { chatMessages, renderChat, type RenderedChat } from './data/chat.ts';
export { chatRow } from './data/chat_row.ts';
export { epochOrder } from './data/sampler.ts';
export {
  configFromHF,
  configFromMindFormers,
  type Llama3RopeScaling,
  type LlamaConfig,
  type ModelFamily,
} from './model/config.ts';
export { LlamaModel, type ModelOptions, type KVCache, type StepResult } from './model/llama.ts';
export type { Batch } from './model/batch.ts';
export type { LoraConfig } from './model/lora.ts';
export { BatchDecoder, type DecodeRow, type DecodeSequence } from './model/batch_decode.ts';
export { memoryPlan, formatPlan } from './model/plan.ts';
export { generate, generateIds, type GenerateOptions } from './generate/generate.ts';
export { adamwStep, globalGradNorm, scaleGrads, type AdamWConfig } from './train/optimizer.ts';
export { loadModelFromBytes, formatLoadReport, type LoadReport } from './checkpoint/load_weights.ts';
export { SafetensorsFile } from './checkpoint/safetensors_file.ts';
export { MemorySource } from './checkpoint/source.ts';
export type { Activations } from './model/options.ts';
export {
  Llama,
  type Dtype,
  type GeneratedPiece,
  type PretrainedFiles,
  type PretrainedOptions,
  type TextGenerationOptions,
} from './api/llama.ts';
export type { FinetuneRecord, InstructionRecord, TokenRecord } from './api/records.ts';
export {
  finetune,
  type FinetuneConfig,
  type FinetuneOptions,
  type TrainedAdapter,
} from './api/finetune.ts';
export type { TrainRecords } from './train/records.ts';
export type { ReportPoint } from './train/report.ts';
export type { AdapterFiles } from './checkpoint/peft_adapter.ts';
