/**
 * The shard format: what is written is read back at random, checksums catch damage, a folder
 * without its index or with a short shard is refused; and the epoch sampler shuffles
 * reproducibly and deals every rank the same number of distinct records.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { epochOrder } from '../../src/data/sampler.ts';
import { ShardDataset } from '../../src/data/shard_reader.ts';
import { ShardWriter } from '../../src/data/shard_writer.ts';
import { scratchDir } from '../reference/oracles.ts';

const dir = scratchDir();

/** Record i of a synthetic dataset: input_ids i*1000 + k, labels alternating with -100. */
function syntheticRecord(i: number, length: number): { input_ids: Int32Array; labels: Int32Array } {
  const input_ids = new Int32Array(length),
    labels = new Int32Array(length);
  for (let k = 0; k < length; k++) {
    input_ids[k] = i * 1000 + k;
    labels[k] = k % 2 ? -100 : -(i * 1000 + k);
  }
  return { input_ids, labels };
}

async function writeDataset(name: string, records: number, seqLength: number, partitions: number): Promise<string> {
  const out = join(dir, name);
  mkdirSync(out);
  const writer = new ShardWriter(out, {
    datasetType: 'qa',
    seqLength,
    columns: ['input_ids', 'labels'],
    partitions,
    tokenizer: { sha256: 'f'.repeat(64), source: 'test' },
    sources: ['synthetic'],
  });
  for (let i = 0; i < records; i++) await writer.write(syntheticRecord(i, seqLength + 1));
  await writer.finish({ masked_rows: 0 });
  return out;
}

describe('shards', () => {
  it('reads back every record, in any order, from K round-robin shards', async () => {
    const out = await writeDataset('rw', 101, 30, 4);
    const ds = ShardDataset.open(out);
    assert.equal(ds.length, 101);
    assert.deepEqual(
      ds.index.shards.map((s) => s.records),
      [26, 25, 25, 25],
    );
    assert.deepEqual(ds.index.columns, {
      input_ids: { type: 'int32', shape: [31] },
      labels: { type: 'int32', shape: [31] },
    });
    ds.verify();
    for (const i of [100, 0, 57, 3, 4, 99, 1]) assert.deepEqual(ds.record(i), syntheticRecord(i, 31), `record ${i}`);
    assert.throws(() => ds.record(101), /record 101 is out of range \[0, 101\)/);
    ds.close();
  });

  it('stores each record as a msgpack map of int32 typed-array extensions', async () => {
    const out = await writeDataset('layout', 1, 2, 1);
    const bytes = readFileSync(join(out, 'shard-00000.msgpack'));
    // map16 with 2 entries; "input_ids"; ext8 of 13 bytes, type 0x74, kind 5 (Int32Array), 3 int32 LE
    assert.equal(bytes.subarray(0, 3).toString('hex'), 'de0002');
    assert.equal(bytes.subarray(3, 13).toString('latin1'), '\xa9input_ids');
    assert.equal(bytes.subarray(13, 17).toString('hex'), 'c70d7405');
    assert.deepEqual([...new Int32Array(bytes.buffer.slice(bytes.byteOffset + 17, bytes.byteOffset + 29))], [0, 1, 2]);
  });

  it('finds a damaged shard by its checksum, and refuses a short shard or a missing index', async () => {
    const out = await writeDataset('damaged', 10, 8, 2);
    const shard = join(out, 'shard-00001.msgpack');
    const bytes = readFileSync(shard);
    bytes[40] ^= 1;
    writeFileSync(shard, bytes);
    assert.throws(() => ShardDataset.open(out), /shard-00001\.msgpack: sha256 [0-9a-f]{64} does not match index\.json/);
    const ds = ShardDataset.open(out, { verify: false });
    assert.throws(() => ds.verify(), /shard-00001\.msgpack: sha256 [0-9a-f]{64} does not match index\.json/);
    ds.close();
    truncateSync(shard, bytes.length - 1);
    assert.throws(
      () => ShardDataset.open(out),
      new RegExp(`shard-00001\\.msgpack: ${bytes.length - 1} bytes, but index\\.json says ${bytes.length}`),
    );
    rmSync(join(out, 'index.json'));
    assert.throws(() => ShardDataset.open(out), /no index\.json/);
  });
});

describe('epoch sampler', () => {
  it('shuffles reproducibly per (seed, epoch) and deals each rank floor(n / ranks) distinct records', () => {
    const n = 103,
      ranks = 4;
    const options = { seed: 7, epoch: 0, shuffle: true, ranks };
    const shares = Array.from({ length: ranks }, (_, rank) => epochOrder(n, { ...options, rank }));
    const seen = new Set<number>();
    for (const share of shares) {
      assert.equal(share.length, 25);
      for (const i of share) {
        assert.ok(i < n && !seen.has(i));
        seen.add(i);
      }
    }
    assert.deepEqual(epochOrder(n, { ...options, rank: 2 }), shares[2]);
    assert.notDeepEqual(epochOrder(n, { ...options, epoch: 1, rank: 2 }), shares[2]);
    assert.notDeepEqual(epochOrder(n, { ...options, seed: 8, rank: 2 }), shares[2]);
    assert.deepEqual([...epochOrder(10, { seed: 0, epoch: 0, shuffle: false, rank: 1, ranks: 3 })], [1, 4, 7]);
    assert.throws(() => epochOrder(10, { seed: 0, epoch: 0, shuffle: false, rank: 3, ranks: 3 }), /rank 3 of 3/);
  });
});
