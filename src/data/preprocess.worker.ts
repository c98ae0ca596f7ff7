/**
 * Worker thread of `llama_preprocess`: builds the tokenizer from the model bytes in workerData,
 * then answers each `{ id, job }` message with `{ id, result }` or `{ id, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LlamaTokenizer } from '../tokenizer/llama.ts';
import { SentencePieceProcessor } from '../tokenizer/sentencepiece.ts';
import { runJob, transferables, type Job } from './preprocess_jobs.ts';

const { model, source } = workerData as { model: Uint8Array; source: string };
const tok = new LlamaTokenizer(SentencePieceProcessor.fromBytes(model, source));

parentPort!.on('message', ({ id, job }: { id: number; job: Job }) => {
  try {
    const result = runJob(tok, job);
    parentPort!.postMessage({ id, result }, transferables(result));
  } catch (err) {
    parentPort!.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
