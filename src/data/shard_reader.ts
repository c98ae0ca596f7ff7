/**
 * Random access to a tokenized dataset folder (see shard_format.ts): the index is read and
 * checked against the shard files' sizes when the folder is opened; `record(i)` reads one
 * record's bytes at its offset; `verify()` checks every shard's sha256.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { parseJson } from './json_text.ts';
import { INDEX_FILE, SHARD_FORMAT, SHARD_VERSION, type ShardIndex, type ShardRecord } from './shard_format.ts';
import { shardPackr } from './shard_writer.ts';

/** An opened dataset folder; close() releases its files. */
export class ShardDataset {
  readonly index: ShardIndex;
  private readonly fds: number[] = [];
  private readonly packr = shardPackr();

  private constructor(readonly dir: string) {
    const indexPath = join(dir, INDEX_FILE);
    if (!existsSync(indexPath)) {
      throw new Error(`${dir}: no ${INDEX_FILE}; not a dataset written by llama_preprocess, or its writing did not finish`);
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
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Opens the dataset in `dir`. */
  static open(dir: string): ShardDataset {
    return new ShardDataset(dir);
  }

  /** Number of records. */
  get length(): number {
    return this.index.records;
  }

  /** Record i (0 ≤ i < length), read from its shard. */
  record(i: number): ShardRecord {
    if (!Number.isInteger(i) || i < 0 || i >= this.index.records) throw new Error(`${this.dir}: record ${i} is out of range [0, ${this.index.records})`);
    const k = this.index.shards.length;
    const shard = this.index.shards[i % k], local = Math.floor(i / k);
    const start = shard.offsets[local];
    const end = local + 1 < shard.offsets.length ? shard.offsets[local + 1] : shard.bytes;
    const bytes = Buffer.alloc(end - start);
    const read = readSync(this.fds[i % k], bytes, 0, bytes.length, start);
    if (read !== bytes.length) throw new Error(`${join(this.dir, shard.file)}: short read at byte ${start}`);
    const record = this.packr.unpack(bytes) as ShardRecord;
    for (const [name, schema] of Object.entries(this.index.columns)) {
      const column = record[name];
      if (!(column instanceof Int32Array) || column.length !== schema.shape[0]) {
        throw new Error(`${join(this.dir, shard.file)}: record ${i} has no ${name} of ${schema.shape[0]} int32 values`);
      }
    }
    return record;
  }

  /** Checks every shard against its sha256 in the index; throws naming the first that differs. */
  verify(): void {
    this.index.shards.forEach((shard, k) => {
      const hash = createHash('sha256');
      const chunk = Buffer.alloc(1 << 20);
      for (let pos = 0; pos < shard.bytes;) {
        const n = readSync(this.fds[k], chunk, 0, Math.min(chunk.length, shard.bytes - pos), pos);
        if (n === 0) break;
        hash.update(chunk.subarray(0, n));
        pos += n;
      }
      const sha256 = hash.digest('hex');
      if (sha256 !== shard.sha256) throw new Error(`${join(this.dir, shard.file)}: sha256 ${sha256} does not match ${INDEX_FILE} (${shard.sha256})`);
    });
  }

  /** Closes the shard files. */
  close(): void {
    for (const fd of this.fds.splice(0)) closeSync(fd);
  }
}

/** Checks the parts of index.json that reading relies on. */
function checkIndex(value: unknown, where: string): ShardIndex {
  const index = value as ShardIndex;
  const fail = (why: string): never => { throw new Error(`${where}: ${why}`); };
  if (index === null || typeof index !== 'object' || index.format !== SHARD_FORMAT) fail(`not a ${SHARD_FORMAT} index`);
  if (index.version !== SHARD_VERSION) fail(`format version ${index.version}; this build reads version ${SHARD_VERSION}`);
  if (!Number.isInteger(index.records) || !Array.isArray(index.shards) || index.shards.length === 0) fail('records or shards missing');
  let total = 0;
  for (const shard of index.shards) {
    if (!Array.isArray(shard.offsets) || shard.offsets.length !== shard.records) fail(`${shard.file}: offsets do not match its record count`);
    total += shard.records;
  }
  if (total !== index.records) fail(`the shards hold ${total} records, not ${index.records}`);
  return index;
}
