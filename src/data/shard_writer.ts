/**
 * Writes a tokenized dataset folder (see shard_format.ts) as a stream: records go straight to
 * their shard file with backpressure, checksums are computed on the way, and `index.json` is
 * written last. Memory stays flat apart from 8 bytes of offset per record.
 */
import { createHash, type Hash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Packr } from 'msgpackr';
import {
  INDEX_FILE,
  SHARD_FORMAT,
  SHARD_LAYOUT,
  SHARD_VERSION,
  shardFileName,
  type ShardEntry,
  type ShardIndex,
  type ShardRecord,
} from './shard_format.ts';

/** msgpack with typed arrays as msgpackr's typed-array extension and objects as plain maps. */
export function shardPackr(): Packr {
  return new Packr({ useRecords: false, moreTypes: true });
}

/** What the index says about the data besides the shards themselves. */
export interface ShardWriterOptions {
  /** the folder named in errors, when `dir` is a temporary that will be renamed to it (default `dir`) */
  shownAs?: string;
  datasetType: string;
  seqLength: number;
  columns: string[];
  partitions: number;
  tokenizer: { sha256: string; source: string };
  sources: string[];
}

interface OpenShard {
  stream: WriteStream;
  hash: Hash;
  entry: ShardEntry;
  failed: Error | null;
}

/** Streams records into K shard files under `dir` (an existing, empty folder). */
export class ShardWriter {
  private readonly packr = shardPackr();
  private readonly shards: OpenShard[];
  private count = 0;

  constructor(
    private readonly dir: string,
    private readonly options: ShardWriterOptions,
  ) {
    if (!Number.isInteger(options.partitions) || options.partitions < 1)
      throw new Error(`--file_partition ${options.partitions}: expected a positive integer`);
    this.shards = Array.from({ length: options.partitions }, (_, k) => {
      const file = shardFileName(k);
      const stream = createWriteStream(join(dir, file));
      const shard: OpenShard = {
        stream,
        hash: createHash('sha256'),
        entry: { file, records: 0, bytes: 0, sha256: '', offsets: [] },
        failed: null,
      };
      stream.on('error', (err) => {
        shard.failed = new Error(`${join(options.shownAs ?? dir, file)}: cannot write (${err.message})`);
      });
      return shard;
    });
  }

  /** Records written so far. */
  get records(): number {
    return this.count;
  }

  /** Appends one record (each column seq_length + 1 int32s); resolves when its shard can take more. */
  async write(record: ShardRecord): Promise<void> {
    const length = this.options.seqLength + 1;
    for (const name of this.options.columns) {
      if (record[name]?.length !== length)
        throw new Error(`record ${this.count}: column ${name} must hold ${length} values`);
    }
    const shard = this.shards[this.count % this.shards.length];
    if (shard.failed) throw shard.failed;
    const bytes = Buffer.from(this.packr.pack(record)); // a copy: msgpackr reuses its buffer
    shard.entry.offsets.push(shard.entry.bytes);
    shard.entry.bytes += bytes.length;
    shard.entry.records++;
    shard.hash.update(bytes);
    this.count++;
    if (!shard.stream.write(bytes)) await drained(shard);
  }

  /** Closes the shards and writes index.json; `extra` adds fields such as masked_rows. */
  async finish(extra: Partial<ShardIndex> = {}): Promise<ShardIndex> {
    await Promise.all(this.shards.map((s) => closed(s)));
    const length = this.options.seqLength + 1;
    const index: ShardIndex = {
      format: SHARD_FORMAT,
      version: SHARD_VERSION,
      dataset_type: this.options.datasetType,
      seq_length: this.options.seqLength,
      records: this.count,
      columns: Object.fromEntries(this.options.columns.map((c) => [c, { type: 'int32', shape: [length] }])),
      layout: SHARD_LAYOUT,
      tokenizer: this.options.tokenizer,
      sources: this.options.sources,
      ...extra,
      shards: this.shards.map((s) => ({ ...s.entry, sha256: s.hash.digest('hex') })),
    };
    await writeFile(join(this.dir, INDEX_FILE), JSON.stringify(index));
    return index;
  }

  /** Closes the shard files after a failure (the caller removes the folder). */
  async abort(): Promise<void> {
    await Promise.all(
      this.shards.map(
        (s) =>
          new Promise<void>((done) => {
            if (s.stream.closed) {
              done();
              return;
            }
            s.stream.once('close', () => done());
            s.stream.destroy();
          }),
      ),
    );
  }
}

function drained(shard: OpenShard): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      shard.stream.off('error', onError);
      resolve();
    };
    const onError = () => {
      shard.stream.off('drain', onDrain);
      reject(shard.failed);
    };
    shard.stream.once('drain', onDrain);
    shard.stream.once('error', onError);
  });
}

function closed(shard: OpenShard): Promise<void> {
  return new Promise((resolve, reject) => {
    if (shard.failed) {
      reject(shard.failed);
      return;
    }
    shard.stream.end((err?: Error | null) => (err ? reject(shard.failed ?? err) : resolve()));
  });
}
