/**
 * Random access to a tokenized dataset folder (see shard_format.ts): the index is read and
 * checked (shard names inside the folder, offsets and counts that describe the shards) and each
 * shard against its size and, unless asked not to, its sha256 when the folder is opened;
 * `record(i)` reads one record's bytes at its offset. Every error names the file, and the record.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parseJson } from './json_text.ts';
import { INDEX_FILE, SHARD_FORMAT, SHARD_VERSION, type ShardIndex, type ShardRecord } from './shard_format.ts';
import { shardPackr } from './shard_writer.ts';

/** How to open a dataset. */
export interface OpenOptions {
  /** check every shard against its sha256 before any record is read (default true) */
  verify?: boolean;
  /** the model's vocabulary: record() refuses ids outside [0, vocabSize) (labels may also be -100) */
  vocabSize?: number;
}

/** An opened dataset folder; close() releases its files. */
export class ShardDataset {
  readonly index: ShardIndex;
  private readonly fds: number[] = [];
  private readonly packr = shardPackr();
  private readonly vocabSize?: number;

  private constructor(
    readonly dir: string,
    { verify = true, vocabSize }: OpenOptions,
  ) {
    this.vocabSize = vocabSize;
    const indexPath = join(dir, INDEX_FILE);
    if (!existsSync(indexPath)) {
      throw new Error(
        `${dir}: no ${INDEX_FILE}; not a dataset written by llama_preprocess, or its writing did not finish`,
      );
    }
    this.index = checkIndex(parseJson(readFileSync(indexPath, 'utf8'), indexPath), indexPath);
    try {
      for (const shard of this.index.shards) {
        const path = join(dir, shard.file);
        if (!existsSync(path)) throw new Error(`${path}: missing (listed in ${INDEX_FILE})`);
        const fd = openSync(path, 'r');
        this.fds.push(fd);
        const size = fstatSync(fd).size;
        if (size !== shard.bytes) throw new Error(`${path}: ${size} bytes, but ${INDEX_FILE} says ${shard.bytes}`);
      }
      if (verify) this.verify();
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Opens the dataset in `dir`, verifying its shards unless `verify` is false. */
  static open(dir: string, options: OpenOptions = {}): ShardDataset {
    return new ShardDataset(dir, options);
  }

  /**
   * Refuses a dataset that cannot train: no rows, or every label masked (index.json masked_rows),
   * where no position counts and training would end with loss 0 and nothing learned.
   */
  checkTrainable(): void {
    if (this.length === 0) throw new Error(`${this.dir}: the dataset is empty`);
    if (this.index.masked_rows === this.length)
      throw new Error(
        `${this.dir}: every label of its ${this.length} rows is masked (index.json masked_rows), so no position counts in the loss`,
      );
  }

  /** Number of records. */
  get length(): number {
    return this.index.records;
  }

  /** Record i (0 ≤ i < length), read from its shard. */
  record(i: number): ShardRecord {
    if (!Number.isInteger(i) || i < 0 || i >= this.index.records)
      throw new Error(`${this.dir}: record ${i} is out of range [0, ${this.index.records})`);
    const k = this.index.shards.length;
    const shard = this.index.shards[i % k],
      local = Math.floor(i / k);
    const start = shard.offsets[local];
    const end = local + 1 < shard.offsets.length ? shard.offsets[local + 1] : shard.bytes;
    const where = `${join(this.dir, shard.file)}: record ${i}`;
    const bytes = Buffer.alloc(end - start);
    const read = readSync(this.fds[i % k], bytes, 0, bytes.length, start);
    if (read !== bytes.length) throw new Error(`${where}: short read at byte ${start}`);
    let record: ShardRecord;
    try {
      record = this.packr.unpack(bytes) as ShardRecord;
    } catch (err) {
      throw new Error(`${where} (bytes ${start}-${end}): not a msgpack record (${(err as Error).message})`);
    }
    for (const [name, schema] of Object.entries(this.index.columns)) {
      const column = record?.[name];
      if (!(column instanceof Int32Array) || column.length !== schema.shape[0])
        throw new Error(`${where} has no ${name} of ${schema.shape[0]} int32 values`);
      if (this.vocabSize !== undefined) checkIds(column, name, this.vocabSize, where);
    }
    return record;
  }

  /** Checks every shard against its sha256 in the index (open does, by default); throws naming the first that differs. */
  verify(): void {
    this.index.shards.forEach((shard, k) => {
      const hash = createHash('sha256');
      const chunk = Buffer.alloc(1 << 20);
      for (let pos = 0; pos < shard.bytes; ) {
        const n = readSync(this.fds[k], chunk, 0, Math.min(chunk.length, shard.bytes - pos), pos);
        if (n === 0) break;
        hash.update(chunk.subarray(0, n));
        pos += n;
      }
      const sha256 = hash.digest('hex');
      if (sha256 !== shard.sha256)
        throw new Error(
          `${join(this.dir, shard.file)}: sha256 ${sha256} does not match ${INDEX_FILE} (${shard.sha256}); the shard is damaged`,
        );
    });
  }

  /** Closes the shard files. */
  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}

/** Refuses an id of column `name` outside the vocabulary (labels may be -100, the ignored position). */
function checkIds(column: Int32Array, name: string, vocabSize: number, where: string): void {
  for (let k = 0; k < column.length; k++) {
    const id = column[k];
    if ((id < 0 || id >= vocabSize) && !(name === 'labels' && id === -100))
      throw new Error(`${where}: ${name}[${k}] = ${id} is outside the vocabulary of ${vocabSize}`);
  }
}

/** Whether `file` names a file directly inside the dataset folder (no folder part, not . or ..). */
function isFileName(file: unknown): file is string {
  return typeof file === 'string' && file !== '' && file !== '.' && file !== '..' && !/[/\\\0]/.test(file);
}

/** Checks the parts of index.json that reading relies on: one line naming the shard and what is wrong. */
function checkIndex(value: unknown, where: string): ShardIndex {
  const index = value as ShardIndex;
  const fail = (why: string): never => {
    throw new Error(`${where}: ${why}`);
  };
  const whole = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0;
  if (index === null || typeof index !== 'object' || index.format !== SHARD_FORMAT) fail(`not a ${SHARD_FORMAT} index`);
  if (index.version !== SHARD_VERSION)
    fail(`format version ${index.version}; this build reads version ${SHARD_VERSION}`);
  if (!whole(index.records) || !Array.isArray(index.shards) || index.shards.length === 0)
    fail('records or shards missing');
  if (!whole(index.seq_length) || index.seq_length === 0)
    fail(`seq_length must be a positive integer, got ${JSON.stringify(index.seq_length)}`);
  const columns: unknown = index.columns;
  if (columns === null || typeof columns !== 'object' || !Object.hasOwn(columns, 'input_ids'))
    fail('columns must hold input_ids');
  for (const [name, column] of Object.entries(index.columns)) {
    const shape: unknown = column?.shape;
    if (column?.type !== 'int32' || !Array.isArray(shape) || shape.length !== 1 || shape[0] !== index.seq_length + 1) {
      fail(
        `columns.${name} must be int32 values of shape [${index.seq_length + 1}] (seq_length + 1), got ${JSON.stringify(column)}`,
      );
    }
  }
  const K = index.shards.length;
  index.shards.forEach((shard, k) => {
    if (!isFileName(shard?.file))
      fail(`shards[${k}].file ${JSON.stringify(shard?.file)} is not a file name in the dataset folder`);
    const name = shard.file;
    if (!whole(shard.bytes)) fail(`${name}: bytes must be a whole number, got ${JSON.stringify(shard.bytes)}`);
    if (!whole(shard.records)) fail(`${name}: records must be a whole number, got ${JSON.stringify(shard.records)}`);
    const dealt = Math.max(0, Math.ceil((index.records - k) / K));
    if (shard.records !== dealt)
      fail(
        `${name}: holds ${shard.records} records, but records are dealt round-robin: ${dealt} of ${index.records} belong to it`,
      );
    const offsets: unknown = shard.offsets;
    if (!Array.isArray(offsets) || offsets.length !== shard.records)
      fail(`${name}: offsets must be a list of ${shard.records} byte offsets`);
    const increasing = (offsets as unknown[]).every(
      (o, r) =>
        whole(o) && (r === 0 ? o === 0 : (o as number) > (offsets as number[])[r - 1]) && (o as number) < shard.bytes,
    );
    if (!increasing || (shard.records === 0) !== (shard.bytes === 0))
      fail(`${name}: offsets must start at 0 and increase within its ${shard.bytes} bytes`);
  });
  return index;
}
