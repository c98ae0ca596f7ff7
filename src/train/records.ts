/** What the trainer reads: a ShardDataset, or records held in memory (src/api/records.ts). */

/** Records of seq_length + 1 ids (and labels, where the columns say so), read by index. */
export interface TrainRecords {
  /** names the data in messages (a shard folder, or "records") */
  readonly dir: string;
  readonly length: number;
  readonly index: { readonly seq_length: number; readonly columns: object };
  record(i: number): Record<string, Int32Array>;
}
