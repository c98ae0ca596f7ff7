/**
 * A dataset is checked before it is trusted: opening it verifies every shard against the sha256
 * in its index (a flipped byte that keeps an id inside the vocabulary is found), an index whose
 * shard names leave the folder or whose offsets and counts do not describe the shards is refused
 * with one line naming index.json and the shard, and a record that cannot be used names its file
 * and record.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ShardDataset } from '../../src/data/shard_reader.ts';
import { ShardWriter } from '../../src/data/shard_writer.ts';
import type { ShardIndex } from '../../src/data/shard_format.ts';
import { scratchDir } from '../reference/oracles.ts';

const dir = scratchDir();
const SEQ = 8;

/** Record i: input_ids 100·i + k, labels -100 on the first half and the ids after. */
function record(i: number): { input_ids: Int32Array; labels: Int32Array } {
  const input_ids = Int32Array.from({ length: SEQ + 1 }, (_, k) => 100 * i + k);
  const labels = input_ids.map((id, k) => (k < SEQ / 2 ? -100 : id));
  return { input_ids, labels };
}

async function writeDataset(name: string, records: number, partitions: number): Promise<string> {
  const out = join(dir, name);
  mkdirSync(out);
  const writer = new ShardWriter(out, {
    datasetType: 'qa',
    seqLength: SEQ,
    columns: ['input_ids', 'labels'],
    partitions,
    tokenizer: { sha256: 'f'.repeat(64), source: 'test' },
    sources: ['synthetic'],
  });
  for (let i = 0; i < records; i++) await writer.write(record(i));
  await writer.finish({ masked_rows: 0 });
  return out;
}

const readIndex = (ds: string): ShardIndex => JSON.parse(readFileSync(join(ds, 'index.json'), 'utf8'));
const writeIndex = (ds: string, index: ShardIndex) => writeFileSync(join(ds, 'index.json'), JSON.stringify(index));
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** A copy of dataset `from` named `name` whose index is changed by `edit`. */
function withIndex(from: string, name: string, edit: (index: ShardIndex) => void): string {
  const to = join(dir, name);
  cpSync(from, to, { recursive: true });
  const index = readIndex(to);
  edit(index);
  writeIndex(to, index);
  return to;
}

describe('dataset integrity', () => {
  it('opening a dataset verifies its shards: a flipped byte that keeps an id inside the vocabulary is found', async () => {
    const ds = await writeDataset('flipped', 10, 2);
    const shard = join(ds, 'shard-00001.msgpack');
    const bytes = readFileSync(shard);
    // Record 3 is record 1 of shard 1; its input_ids[2] = 302 becomes 303, a valid id.
    const at = bytes.indexOf(Buffer.from(Int32Array.of(302).buffer));
    assert.ok(at > 0);
    bytes[at] ^= 1;
    writeFileSync(shard, bytes);
    assert.throws(
      () => ShardDataset.open(ds),
      (err: Error) => {
        assert.match(
          err.message,
          /^\S+\/flipped\/shard-00001\.msgpack: sha256 [0-9a-f]{64} does not match index\.json \([0-9a-f]{64}\); the shard is damaged$/,
        );
        return true;
      },
    );
    // show_dataset without --verify only reads the index.
    ShardDataset.open(ds, { verify: false }).close();
  });

  it('refuses shard file names that leave the dataset folder', async () => {
    const ds = await writeDataset('escape', 4, 1);
    // A shard outside the folder with a matching size and checksum is still refused.
    const outside = readFileSync(join(ds, 'shard-00000.msgpack'));
    writeFileSync(join(dir, 'outside.msgpack'), outside);
    for (const file of ['../outside.msgpack', `${dir}/outside.msgpack`, '..', 'sub\\..\\..\\outside.msgpack', '']) {
      const bad = withIndex(ds, `escape-${createHash('md5').update(file).digest('hex')}`, (index) => {
        index.shards[0].file = file;
      });
      assert.throws(
        () => ShardDataset.open(bad),
        new RegExp(
          `^Error: \\S+/index\\.json: shards\\[0\\]\\.file ${JSON.stringify(file).replace(/[\\.[\]]/g, '\\$&')} is not a file name in the dataset folder$`,
        ),
        file,
      );
    }
  });

  it('refuses offsets and record counts that do not describe the shards, naming index.json and the shard', async () => {
    const ds = await writeDataset('offsets', 5, 2);
    const cases: [string, (x: ShardIndex) => void, RegExp][] = [
      [
        'beyond',
        (x) => {
          x.shards[0].offsets[1] = 1e12;
        },
        /shard-00000\.msgpack: offsets must start at 0 and increase within its 0*\d+ bytes/,
      ],
      [
        'negative',
        (x) => {
          x.shards[1].offsets[1] = -5;
        },
        /shard-00001\.msgpack: offsets must start at 0 and increase within its \d+ bytes/,
      ],
      [
        'fraction',
        (x) => {
          x.shards[0].offsets[2] = 10.5;
        },
        /shard-00000\.msgpack: offsets must start at 0 and increase within its \d+ bytes/,
      ],
      [
        'decreasing',
        (x) => {
          x.shards[0].offsets.reverse();
        },
        /shard-00000\.msgpack: offsets must start at 0 and increase within its \d+ bytes/,
      ],
      [
        'not-list',
        (x) => {
          (x.shards[0] as unknown as { offsets: string }).offsets = 'abc';
        },
        /shard-00000\.msgpack: offsets must be a list of 3 byte offsets/,
      ],
      [
        'dealt',
        (x) => {
          x.shards[0].records = 2;
          x.shards[0].offsets.pop();
          x.shards[1].records = 3;
          x.shards[1].offsets.push(x.shards[1].bytes - 1);
        },
        /shard-00000\.msgpack: holds 2 records, but records are dealt round-robin: 3 of 5 belong to it/,
      ],
      [
        'records',
        (x) => {
          x.records = 7;
        },
        /shard-00000\.msgpack: holds 3 records, but records are dealt round-robin: 4 of 7 belong to it/,
      ],
      [
        'bytes',
        (x) => {
          x.shards[1].bytes = -1;
        },
        /shard-00001\.msgpack: bytes must be a whole number, got -1/,
      ],
      // Rows of 9 values read as rows of 5 would overlap in a batch.
      [
        'seq',
        (x) => {
          x.seq_length = 4;
        },
        /columns\.input_ids must be int32 values of shape \[5\] \(seq_length \+ 1\), got \{"type":"int32","shape":\[9\]\}/,
      ],
      [
        'columns',
        (x) => {
          delete (x.columns as Record<string, unknown>).input_ids;
        },
        /columns must hold input_ids/,
      ],
    ];
    for (const [name, edit, want] of cases) {
      const bad = withIndex(ds, `offsets-${name}`, edit);
      assert.throws(
        () => ShardDataset.open(bad),
        (err: Error) => {
          assert.ok(!(err instanceof RangeError), `${name}: ${err.stack}`);
          assert.match(err.message, new RegExp(`^\\S+/offsets-${name}/index\\.json: `), name);
          assert.match(err.message, want, name);
          return true;
        },
      );
    }
  });

  it('names the file and record of a record that does not decode or holds an id outside the vocabulary', async () => {
    const ds = await writeDataset('records', 6, 2);
    const index = readIndex(ds);
    // Record 2 (record 1 of shard 0) overwritten with a byte msgpack never uses, the index re-hashed.
    const shard = join(ds, 'shard-00000.msgpack');
    const bytes = readFileSync(shard);
    bytes.fill(0xc1, index.shards[0].offsets[1], index.shards[0].offsets[2]);
    writeFileSync(shard, bytes);
    index.shards[0].sha256 = sha256(bytes);
    writeIndex(ds, index);
    const data = ShardDataset.open(ds, { vocabSize: 500 });
    assert.deepEqual(data.record(0), record(0));
    assert.throws(
      () => data.record(2),
      /^Error: \S+\/records\/shard-00000\.msgpack: record 2 \(bytes \d+-\d+\): not a msgpack record/,
    );
    // Record 5 has ids 500..508: outside a vocabulary of 500, inside one of 600.
    assert.throws(
      () => data.record(5),
      /^Error: \S+\/records\/shard-00001\.msgpack: record 5: input_ids\[0\] = 500 is outside the vocabulary of 500$/,
    );
    data.close();
    const wider = ShardDataset.open(ds, { vocabSize: 600 });
    assert.deepEqual(wider.record(5), record(5));
    wider.close();
  });
});
