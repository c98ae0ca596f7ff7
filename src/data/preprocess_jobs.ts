/**
 * The units of tokenization work `llama_preprocess` hands to worker threads (or runs inline):
 * a batch of rendered qa conversations becomes rows; so does a batch of conversations rendered
 * with a chat template; a batch of wiki paragraphs becomes the concatenation of their
 * `tok(paragraph)` ids.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { chatRow } from './chat_row.ts';
import { qaRow } from './qa.ts';

/** A batch of rendered conversations to turn into rows of `length` (= seq_length + 1). */
export interface QaJob {
  kind: 'qa';
  prompts: string[];
  length: number;
}
/** A batch of chat-template renderings with their assistant turns (see chatRow), to turn into rows of `length`. */
export interface ChatJob {
  kind: 'chat';
  prompts: string[];
  turns: [number, number][][];
  endOfTurnId: number;
  length: number;
}
/** A batch of wiki paragraphs to tokenize. */
export interface WikiJob {
  kind: 'wiki';
  paragraphs: string[];
}
export type Job = QaJob | ChatJob | WikiJob;

/** Rows of a qa or chat batch: input_ids and labels [n, length] row-major; masked[i] = 1 if row i's labels are all -100. */
export interface QaResult {
  kind: 'qa';
  inputIds: Int32Array;
  labels: Int32Array;
  masked: Uint8Array;
}
/** ids of a wiki batch, paragraph after paragraph, each with its BOS and EOS. */
export interface WikiResult {
  kind: 'wiki';
  ids: Int32Array;
}
export type JobResult = QaResult | WikiResult;

/** Runs one job with a tokenizer. */
export function runJob(tok: Tokenizer, job: Job): JobResult {
  if (job.kind === 'wiki') {
    const ids: number[] = [];
    for (const paragraph of job.paragraphs) tok.encodeTo(paragraph, ids);
    return { kind: 'wiki', ids: Int32Array.from(ids) };
  }
  const n = job.prompts.length,
    L = job.length;
  const inputIds = new Int32Array(n * L),
    labels = new Int32Array(n * L),
    masked = new Uint8Array(n);
  job.prompts.forEach((prompt, i) => {
    const ids = inputIds.subarray(i * L, (i + 1) * L),
      row = labels.subarray(i * L, (i + 1) * L);
    const allMasked =
      job.kind === 'qa' ? qaRow(tok, prompt, ids, row) : chatRow(tok, prompt, job.turns[i], job.endOfTurnId, ids, row);
    masked[i] = allMasked ? 1 : 0;
  });
  return { kind: 'qa', inputIds, labels, masked };
}

/** The buffers of a result, to transfer instead of copy. */
export function transferables(result: JobResult): ArrayBuffer[] {
  return (result.kind === 'wiki' ? [result.ids] : [result.inputIds, result.labels, result.masked]).map(
    (a) => a.buffer as ArrayBuffer,
  );
}
