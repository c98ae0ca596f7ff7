/**
 * The tokenized-dataset format `llama_preprocess` writes and the trainer reads: a folder with
 * K shard files and `index.json`.
 *
 *   - Each shard is a plain concatenation of msgpack records, one map per record whose values
 *     are msgpack extension 116 (msgpackr's typed arrays): one byte 5 (Int32Array), then the
 *     int32 values little-endian. Records are dealt round-robin: record i is record
 *     floor(i / K) of shard i mod K.
 *   - `index.json` (written last) describes it all: schema, record count, seq_length, the
 *     tokenizer's sha256, and per shard its record count, byte length, sha256 and the byte
 *     offset of every record, for random access.
 */

/** The value of `format` in index.json. */
export const SHARD_FORMAT = 'wasmformers-shards';
/** The version of the format this code reads and writes. */
export const SHARD_VERSION = 1;
/** The index file's name inside a dataset folder. */
export const INDEX_FILE = 'index.json';

/** The file name of shard k. */
export function shardFileName(k: number): string {
  return `shard-${String(k).padStart(5, '0')}.msgpack`;
}

/** One column: int32 values, `shape` [seq_length + 1]. */
export interface ColumnSchema {
  type: 'int32';
  shape: [number];
}

/** One shard's entry in the index. */
export interface ShardEntry {
  file: string;
  records: number;
  bytes: number;
  sha256: string;
  /** byte offset of each of the shard's records */
  offsets: number[];
}

/** index.json. */
export interface ShardIndex {
  format: typeof SHARD_FORMAT;
  version: number;
  /** "qa" or "chat" (input_ids and labels), or "wiki" (input_ids) */
  dataset_type: string;
  seq_length: number;
  records: number;
  columns: Record<string, ColumnSchema>;
  /** how the shards hold the records */
  layout: string;
  tokenizer: { sha256: string; source: string };
  /** the input files, in the order they were read */
  sources: string[];
  /** qa: rows whose labels are all -100 (they add nothing to the loss) */
  masked_rows?: number;
  shards: ShardEntry[];
}

/** The layout text stored in the index. */
export const SHARD_LAYOUT =
  'msgpack map per record, columns as ext 116 (byte 5 = Int32Array, then int32 LE); record i is record floor(i/K) of shard i mod K';

/** One record: a typed array per column. */
export type ShardRecord = Record<string, Int32Array>;
