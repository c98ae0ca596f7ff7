/**
 * The pipeline behind `llama_preprocess`: input files → tokenized rows → a dataset folder of
 * msgpack shards. Records are read and checked on the main thread, tokenized in batches on
 * worker threads, and written in input order as the batches come back, with a bounded number of
 * batches in flight so that memory stays flat.
 */
import { endOfTurnId, type ChatTemplate } from '../tokenizer/chat_template.ts';
import type { LoadedTokenizer } from '../tokenizer/load.ts';
import { writeAtomically } from '../io/atomic.ts';
import { chatMessages, renderChat } from './chat.ts';
import { recordName, renderConversation } from './conversation.ts';
import { readTextFile } from './json_file.ts';
import { parseJson } from './json_text.ts';
import { PreprocessPool } from './preprocess_pool.ts';
import type { Job, JobResult, QaResult, WikiResult } from './preprocess_jobs.ts';
import { ShardWriter } from './shard_writer.ts';
import { universalNewlines, wikiParagraphs } from './wiki.ts';

/** What to preprocess and how. */
export interface PreprocessOptions {
  datasetType: 'qa' | 'chat' | 'wiki';
  /** input files, read in this order */
  inputs: string[];
  /** the dataset folder to create (must not exist) */
  output: string;
  seqLength: number;
  partitions: number;
  /** wiki: how many times the whole token stream is repeated */
  repeat: number;
  tokenizer: LoadedTokenizer;
  /** chat: the model's chat template */
  chatTemplate?: ChatTemplate;
  /** worker threads (at most one per 64K characters of input); 0 tokenizes on the calling thread */
  threads: number;
  /** called as work is done: (done, total) in records (qa, chat) or paragraphs (wiki) */
  progress?: (done: number, total: number) => void;
}

/** What was written. */
export interface PreprocessSummary {
  records: number;
  /** qa, chat: 0-based numbers of the rows whose labels are all masked */
  maskedRows: number[];
}

/**
 * The longest rows a dataset may hold. No model here takes more: the smallest shape (16 hidden,
 * 2 layers) needs about 3 KiB of step activations per position, so 2^20 positions already fill
 * 3 of the 4 GiB one WebAssembly memory addresses.
 */
export const MAX_SEQ_LENGTH = 1 << 20;

/**
 * qa records per batch, and positions per batch (64 rows at the default seq_length 2048: batches
 * of longer rows hold fewer, so memory stays flat); wiki characters per batch; input characters
 * per worker thread started.
 */
const QA_BATCH = 64;
const QA_BATCH_POSITIONS = 64 * 2049;
const WIKI_BATCH_CHARS = 1 << 16;
const CHARS_PER_THREAD = 1 << 16;

/** Runs the pipeline; on any error nothing is left at `output`. */
export async function preprocess(options: PreprocessOptions): Promise<PreprocessSummary> {
  const { seqLength } = options;
  if (!Number.isInteger(seqLength) || seqLength < 1)
    throw new Error(`--seq_length ${seqLength}: expected a positive integer`);
  if (seqLength > MAX_SEQ_LENGTH) {
    throw new Error(
      `--seq_length ${seqLength} is more than any model here can take (at most ${MAX_SEQ_LENGTH}: the smallest model shape needs about 3 KiB of activations per position, and 2^20 positions fill 3 of the 4 GiB one WebAssembly memory addresses)`,
    );
  }
  if (!Number.isInteger(options.repeat) || options.repeat < 1)
    throw new Error(`--repeat ${options.repeat}: expected a positive integer`);
  const texts: string[] = [];
  for (const path of options.inputs) texts.push(await readTextFile(path));
  // the workers start (and build their tokenizers) while this thread parses the input
  const chars = texts.reduce((n, t) => n + t.length, 0);
  const rows = options.datasetType !== 'wiki';
  const pool = new PreprocessPool(
    options.tokenizer,
    Math.min(options.threads, Math.ceil(chars / CHARS_PER_THREAD)),
    options.datasetType === 'chat',
  );
  try {
    const work =
      options.datasetType === 'qa'
        ? qaBatches(options.inputs, texts, seqLength + 1)
        : options.datasetType === 'chat'
          ? chatBatches(options, texts, seqLength + 1)
          : wikiBatches(texts);
    return await writeAtomically(
      options.output,
      async (dir) => {
        const writer = new ShardWriter(dir, {
          shownAs: options.output,
          datasetType: options.datasetType,
          seqLength,
          columns: rows ? ['input_ids', 'labels'] : ['input_ids'],
          partitions: options.partitions,
          tokenizer: { sha256: options.tokenizer.sha256, source: options.tokenizer.source },
          sources: options.inputs,
        });
        try {
          const summary = rows
            ? await writeRows(pool, work, seqLength + 1, writer, options.progress)
            : await writeWiki(pool, work, seqLength + 1, options.repeat, writer, options.progress);
          await writer.finish(rows ? { masked_rows: summary.maskedRows.length } : {});
          return summary;
        } catch (err) {
          await writer.abort();
          throw err;
        }
      },
      { folder: true },
    );
  } finally {
    await pool.close();
  }
}

/** Every qa input rendered and checked up front (errors name the file and record), in batches. */
function qaBatches(inputs: string[], texts: string[], length: number): Job[] {
  const jobs: Job[] = [],
    perBatch = Math.max(1, Math.min(QA_BATCH, Math.floor(QA_BATCH_POSITIONS / length)));
  for (const [f, path] of inputs.entries()) {
    const data = parseJson(texts[f], path);
    if (!Array.isArray(data)) throw new Error(`${path}: expected a JSON array of conversation records`);
    const prompts = data.map((record, i) => renderConversation(record, i, path));
    for (let i = 0; i < prompts.length; i += perBatch)
      jobs.push({ kind: 'qa', prompts: prompts.slice(i, i + perBatch), length });
  }
  return jobs;
}

/** Every chat input rendered with the model's template and checked up front (errors name the file and record), in batches. */
function chatBatches(options: PreprocessOptions, texts: string[], length: number): Job[] {
  const template = options.chatTemplate;
  if (!template) throw new Error("--dataset_type chat needs the model's chat template");
  const tok = options.tokenizer.tokenizer;
  const eot = endOfTurnId(template, tok);
  const eotText = tok.idToToken(eot)!;
  const jobs: Job[] = [];
  for (const [f, path] of options.inputs.entries()) {
    const data = parseJson(texts[f], path);
    if (!Array.isArray(data)) throw new Error(`${path}: expected a JSON array of conversation records`);
    const rendered = data.map((record, i) => {
      const messages = chatMessages(record, i, path);
      try {
        return renderChat(template, messages, eotText, `${path}: ${recordName(record, i)}`);
      } catch (err) {
        const message = (err as Error).message;
        throw new Error(message.startsWith(path) ? message : `${path}: ${recordName(record, i)}: ${message}`);
      }
    });
    for (let i = 0; i < rendered.length; i += QA_BATCH) {
      const batch = rendered.slice(i, i + QA_BATCH);
      jobs.push({
        kind: 'chat',
        prompts: batch.map((r) => r.text),
        turns: batch.map((r) => r.turns),
        endOfTurnId: eot,
        length,
      });
    }
  }
  return jobs;
}

/** Every wiki input's paragraphs (each file cleaned on its own), in batches of about 64K characters. */
function wikiBatches(texts: string[]): Job[] {
  const jobs: Job[] = [];
  for (const text of texts) {
    let batch: string[] = [],
      chars = 0;
    for (const paragraph of wikiParagraphs(universalNewlines(text))) {
      batch.push(paragraph);
      chars += paragraph.length;
      if (chars >= WIKI_BATCH_CHARS) {
        jobs.push({ kind: 'wiki', paragraphs: batch });
        batch = [];
        chars = 0;
      }
    }
    if (batch.length) jobs.push({ kind: 'wiki', paragraphs: batch });
  }
  return jobs;
}

/**
 * Runs jobs, at most `inFlight` at a time, and hands each result to `take` in job order. On the
 * first failure the jobs still running are abandoned: their results, or their failure when the
 * pool closes, are not waited for, and the first failure is the one reported.
 */
async function inOrder(
  pool: PreprocessPool,
  jobs: Job[],
  inFlight: number,
  take: (result: JobResult, job: Job) => Promise<void>,
): Promise<void> {
  const running: Promise<JobResult>[] = [];
  let next = 0;
  const refill = () => {
    while (next < jobs.length && running.length < inFlight) running.push(pool.run(jobs[next++]));
  };
  try {
    refill();
    for (let done = 0; done < jobs.length; done++) {
      const result = await running.shift()!;
      refill();
      await take(result, jobs[done]);
    }
  } catch (err) {
    for (const job of running) job.catch(() => {});
    throw err;
  }
}

async function writeRows(
  pool: PreprocessPool,
  jobs: Job[],
  length: number,
  writer: ShardWriter,
  progress: PreprocessOptions['progress'],
): Promise<PreprocessSummary> {
  const total = jobs.reduce((n, j) => n + (j.kind === 'wiki' ? 0 : j.prompts.length), 0);
  const maskedRows: number[] = [];
  await inOrder(pool, jobs, 8, async (result) => {
    const { inputIds, labels, masked } = result as QaResult;
    for (let i = 0; i < masked.length; i++) {
      if (masked[i]) maskedRows.push(writer.records);
      await writer.write({
        input_ids: inputIds.subarray(i * length, (i + 1) * length),
        labels: labels.subarray(i * length, (i + 1) * length),
      });
    }
    progress?.(writer.records, total);
  });
  return { records: writer.records, maskedRows };
}

async function writeWiki(
  pool: PreprocessPool,
  jobs: Job[],
  length: number,
  repeat: number,
  writer: ShardWriter,
  progress: PreprocessOptions['progress'],
): Promise<PreprocessSummary> {
  const total = jobs.reduce((n, j) => n + (j.kind === 'wiki' ? j.paragraphs.length : 0), 0);
  const chunk = new Int32Array(length);
  let filled = 0,
    paragraphs = 0;
  const feed = async (ids: Int32Array) => {
    for (let at = 0; at < ids.length; ) {
      const n = Math.min(length - filled, ids.length - at);
      chunk.set(ids.subarray(at, at + n), filled);
      filled += n;
      at += n;
      if (filled === length) {
        await writer.write({ input_ids: chunk });
        filled = 0;
      }
    }
  };
  const kept: Int32Array[] = []; // the token stream, replayed for --repeat
  await inOrder(pool, jobs, 8, async (result, job) => {
    const { ids } = result as WikiResult;
    if (repeat > 1) kept.push(ids);
    await feed(ids);
    paragraphs += job.kind === 'wiki' ? job.paragraphs.length : 0;
    progress?.(paragraphs, total);
  });
  for (let r = 1; r < repeat; r++) for (const ids of kept) await feed(ids);
  return { records: writer.records, maskedRows: [] };
}
