/**
 * Fine-tuning records held in memory, as the trainer reads them (TrainRecords): Alpaca-style
 * {instruction, input?, output} records, tokenized as llama_preprocess's qa rows are (the answer's
 * tokens are the only targets), or rows of ids given as they are.
 */
import { alpacaToConversations } from '../data/alpaca.ts';
import { renderConversation } from '../data/conversation.ts';
import { IGNORE_INDEX, qaRow } from '../data/qa.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { TrainRecords } from '../train/records.ts';

/** An instruction and its answer (Alpaca's fields). */
export interface InstructionRecord {
  instruction: string;
  input?: string;
  output: string;
}

/** A row of token ids (seqLength + 1 of them) and, optionally, its targets (-100: not counted). */
export interface TokenRecord {
  inputIds: ArrayLike<number>;
  labels?: ArrayLike<number>;
}

/** One fine-tuning record in memory. */
export type FinetuneRecord = InstructionRecord | TokenRecord;

/** The records as TrainRecords: instruction records as qa rows of `seqLength` + 1 ids; token rows must all be one length. */
export function recordsInMemory(
  records: readonly FinetuneRecord[],
  tokenizer: Tokenizer,
  seqLength: number,
): TrainRecords {
  const where = 'records';
  if (records.length === 0) throw new Error(`${where}: no records to fine-tune on`);
  const rows: { input_ids: Int32Array; labels: Int32Array }[] = [];
  if (records.every((r) => r !== null && typeof r === 'object' && 'inputIds' in r)) {
    const length = (records[0] as TokenRecord).inputIds.length;
    for (const [i, r] of (records as TokenRecord[]).entries()) {
      const fail = (why: string): never => {
        throw new Error(`${where}[${i}]: ${why}`);
      };
      if (r.inputIds.length !== length || length < 2)
        fail(
          `inputIds has ${r.inputIds.length} ids; every row needs the same number, at least 2 (record 0 has ${length})`,
        );
      if (r.labels && r.labels.length !== length) fail(`labels has ${r.labels.length} entries, inputIds ${length}`);
      const ids = Int32Array.from(r.inputIds);
      rows.push({ input_ids: ids, labels: r.labels ? Int32Array.from(r.labels) : ids });
    }
    if (!rows.some((r) => r.labels.subarray(1).some((l) => l !== IGNORE_INDEX)))
      throw new Error(`${where}: every label is -100, so no position counts in the loss`);
    return memoryRecords(rows, length - 1);
  }
  const conversations = alpacaToConversations(records, where);
  let answered = 0; // rows where some of the answer fits
  for (const [i, c] of conversations.entries()) {
    const ids = new Int32Array(seqLength + 1),
      labels = new Int32Array(seqLength + 1);
    if (!qaRow(tokenizer, renderConversation(c, i, where), ids, labels)) answered++;
    rows.push({ input_ids: ids, labels });
  }
  if (answered === 0)
    throw new Error(
      `${where}: no record's answer fits in seqLength ${seqLength} after its prompt (raise config.seqLength)`,
    );
  return memoryRecords(rows, seqLength);
}

function memoryRecords(rows: { input_ids: Int32Array; labels: Int32Array }[], seqLength: number): TrainRecords {
  return {
    dir: 'records',
    length: rows.length,
    index: { seq_length: seqLength, columns: { input_ids: {}, labels: {} } },
    record: (i) => rows[i],
  };
}
