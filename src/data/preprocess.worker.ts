/**
 * Worker thread of `llama_preprocess`: builds the tokenizer from the files in workerData (with
 * MindFormers' BOS and EOS unless `raw`), then answers each `{ id, job }` message with `{ id, result }` or `{ id, error }`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { withBosEos } from '../tokenizer/bos_eos.ts';
import { tokenizerFromFiles, type TokenizerFiles } from '../tokenizer/files.ts';
import { runJob, transferables, type Job } from './preprocess_jobs.ts';

const { files, source, raw } = workerData as { files: TokenizerFiles; source: string; raw: boolean };
const tok = raw ? tokenizerFromFiles(files, source) : withBosEos(tokenizerFromFiles(files, source), source);

parentPort!.on('message', ({ id, job }: { id: number; job: Job }) => {
  try {
    const result = runJob(tok, job);
    parentPort!.postMessage({ id, result }, transferables(result));
  } catch (err) {
    parentPort!.postMessage({ id, error: err instanceof Error ? err.message : String(err) });
  }
});
