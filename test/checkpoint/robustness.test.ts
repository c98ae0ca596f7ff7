/**
 * Damaged files: truncation, a wrong header, a header length beyond the file, tensors whose
 * bytes disagree with their shapes, corrupted data under a checksum, malformed shard indexes;
 * and a fixed-seed random-mutation fuzz run of 10,000 cases over each reader (safetensors and
 * .ckpt): every case ends in a correct load or an Error that names the file, never anything
 * else (a TypeError, a RangeError, a hang, an allocation beyond the file's size).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CkptFile } from '../../src/checkpoint/ckpt.ts';
import { openTensors } from '../../src/checkpoint/open.ts';
import { SafetensorsFile } from '../../src/checkpoint/safetensors.ts';
import { MemorySource } from '../../src/checkpoint/source.ts';
import type { TensorStore } from '../../src/checkpoint/store.ts';
import { writeTensors, type OutputTensor } from '../../src/checkpoint/write.ts';
import { Rng } from '../../src/runtime/random.ts';
import { scratch } from './helpers.ts';

const dir = scratch();
const rng = new Rng(11);
const tensors: OutputTensor[] = [
  { name: 'a', info: { dtype: 'F32', shape: [3, 4] } },
  { name: 'b', info: { dtype: 'BF16', shape: [5] } },
  { name: 'scalar', info: { dtype: 'I64', shape: [] } },
  { name: 'c', info: { dtype: 'U8', shape: [2, 3] } },
].map((t) => {
  const bytes = Uint8Array.from(
    { length: t.info.shape.reduce((x, y) => x * y, 1) * { F32: 4, BF16: 2, I64: 8, U8: 1 }[t.info.dtype as 'F32'] },
    () => rng.nextU32() & 0xff,
  );
  return { ...t, info: { ...t.info, dtype: t.info.dtype as 'F32' }, bytes: () => bytes };
});
await writeTensors(join(dir, 'good.safetensors'), 'safetensors', tensors);
await writeTensors(join(dir, 'good.ckpt'), 'ckpt', tensors, { sliceBytes: 8 });
const GOOD_ST = new Uint8Array(readFileSync(join(dir, 'good.safetensors')));
const GOOD_CKPT = new Uint8Array(readFileSync(join(dir, 'good.ckpt')));

type Open = (src: MemorySource) => TensorStore;
const openSt: Open = (src) => SafetensorsFile.from(src);
const openCkpt: Open = (src) => CkptFile.from(src);

/** Opens bytes and reads every tensor; returns the error message, or '' for a correct load. */
function attempt(open: Open, bytes: Uint8Array, where: string): string {
  try {
    const store = open(new MemorySource(where, bytes));
    for (const name of store.tensors.keys()) store.readSync(name);
    store.close();
    return '';
  } catch (err) {
    if (!(err instanceof Error) || err.constructor !== Error)
      throw new Error(`${where}: a ${(err as Error)?.constructor?.name} escaped: ${(err as Error)?.message}`);
    assert.ok(err.message.startsWith(`${where}: `), `the message names the file: ${err.message}`);
    return err.message;
  }
}

function withHeader(json: string, data: Uint8Array): Uint8Array {
  const head = Buffer.from(json);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}

describe('damaged safetensors files', () => {
  it('every truncation is an error that says so', () => {
    for (let n = 0; n < GOOD_ST.length; n++)
      assert.match(
        attempt(openSt, GOOD_ST.subarray(0, n), 'x.safetensors'),
        /not a safetensors file|truncated|past the end/,
        `cut at ${n}`,
      );
  });

  it('a wrong header, a header length beyond the file, shapes that disagree with the bytes, overlaps, corrupted data', () => {
    const data = new Uint8Array(24);
    const cases: [Uint8Array, RegExp][] = [
      [Buffer.from('GGUF\x03\x00\x00\x00 not a safetensors file at all'), /not a safetensors file \(header length/],
      [withHeader('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}', data), /the header is not JSON/],
      [withHeader('[1, 2]', data), /not a JSON object/],
      [
        (() => {
          const b = withHeader('{}', data);
          new DataView(b.buffer).setBigUint64(0, 2n ** 40n, true);
          return b;
        })(),
        /header length 1099511627776 in a 34-byte file/,
      ],
      [
        withHeader('{"a": {"dtype": "F32", "shape": [2, 4], "data_offsets": [0, 24]}}', data),
        /tensor a spans bytes 0\.\.24 but F32\[2,4\] needs 32/,
      ],
      [
        withHeader('{"a": {"dtype": "F32", "shape": [8], "data_offsets": [0, 32]}}', data),
        /tensor a ends at byte .*past the end of the file/,
      ],
      [
        withHeader(
          '{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [8, 16]}}',
          data,
        ),
        /tensor b starts at byte .*overlap or leave a hole/,
      ],
      [
        withHeader('{"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}', data),
        /8 bytes after the last tensor/,
      ],
      [
        withHeader('{"a": {"dtype": "Q4", "shape": [4], "data_offsets": [0, 16]}}', data),
        /tensor a has unsupported dtype "Q4"/,
      ],
      [withHeader('{"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 16]}}', data), /tensor a has a bad shape/],
      [withHeader('{"__metadata__": {"n": 1}}', new Uint8Array(0)), /__metadata__ must map names to strings/],
      [
        (() => {
          const b = GOOD_ST.slice();
          b[b.length - 1] ^= 1;
          return b;
        })(),
        /tensor c: checksum mismatch/,
      ],
    ];
    for (const [bytes, message] of cases) assert.match(attempt(openSt, bytes, 'x.safetensors'), message);
  });

  it('a shard index that names a missing file, a path outside the folder, or a tensor not in its shard', async () => {
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ weight_map: { a: 'model-1.safetensors' } }, /model-1\.safetensors: cannot open \(ENOENT\)/],
      [
        { weight_map: { a: '../good.safetensors' } },
        /tensor a maps to "\.\.\/good\.safetensors", not a file name in the folder/,
      ],
      [
        { weight_map: { zz: 'good.safetensors' } },
        /tensor zz is mapped to good\.safetensors, which has no such tensor/,
      ],
      [{ metadata: {} }, /missing key weight_map/],
    ];
    for (const [i, [index, message]] of cases.entries()) {
      const folder = join(dir, `index${i}`);
      mkdirSync(folder);
      writeFileSync(join(folder, 'good.safetensors'), GOOD_ST);
      writeFileSync(join(folder, 'model.safetensors.index.json'), JSON.stringify(index));
      assert.throws(() => openTensors(folder), message);
    }
  });
});

describe('damaged .ckpt files', () => {
  it('truncation, garbage, contents that disagree with dims, an unknown type, corrupted data', () => {
    for (let n = 1; n < GOOD_CKPT.length; n++) {
      const message = attempt(openCkpt, GOOD_CKPT.subarray(0, n), 'x.ckpt');
      // A cut can fall exactly between two pieces of a parameter: then the parameter is short.
      assert.match(message, /truncated|runs past|needs \d+ bytes, but the file holds|^$/, `cut at ${n}`);
    }
    const value = (tag: string, dims: number[], type: string, content: number[]) => {
      const tensor = [
        ...dims.flatMap((d) => [0x08, d]),
        0x12,
        type.length,
        ...Buffer.from(type),
        0x1a,
        content.length,
        ...content,
      ];
      const v = [0x0a, tag.length, ...Buffer.from(tag), 0x12, tensor.length, ...tensor];
      return [0x0a, v.length, ...v];
    };
    const cases: [number[], RegExp][] = [
      [[0xff, 0xff, 0xff], /not a MindSpore checkpoint \(a field key is a varint longer|truncated/],
      [
        value('w', [2, 3], 'Float32', [1, 2, 3, 4]),
        /parameter w is Float32\[2,3\], which needs 24 bytes, but the file holds 4/,
      ],
      [value('s', [1], 'str', [65]), /parameter s has tensor_type "str", which is not supported/],
      [
        [...value('w', [1], 'Int8', [1]), ...value('v', [1], 'Int8', [1]), ...value('w', [1], 'Int8', [1])],
        /parameter w appears twice/,
      ],
      [[...value('w', [2], 'Int8', [1]), ...value('w', [3], 'Int8', [1])], /the pieces of parameter w disagree/],
      [[0x0a, 0x03, 0x0a, 0x01, 0x41], /parameter A has no tensor/],
      [[0x0b], /wire type 3/],
    ];
    for (const [bytes, message] of cases) assert.match(attempt(openCkpt, Uint8Array.from(bytes), 'x.ckpt'), message);
    const corrupt = GOOD_CKPT.slice();
    corrupt[corrupt.length - 7] ^= 0x10; // the last byte of the last piece (its CRC field follows)
    assert.match(attempt(openCkpt, corrupt, 'x.ckpt'), /parameter c: checksum mismatch/);
  });
});

/** One random mutation of `bytes`. */
function mutate(r: Rng, bytes: Uint8Array): Uint8Array {
  const n = bytes.length,
    at = () => Math.floor(r.uniform() * (n + 1));
  switch (Math.floor(r.uniform() * 7)) {
    case 0: {
      const b = bytes.slice();
      for (let k = 1 + Math.floor(r.uniform() * 4); k > 0; k--)
        b[Math.floor(r.uniform() * n)] ^= 1 << Math.floor(r.uniform() * 8);
      return b;
    }
    case 1: {
      const b = bytes.slice();
      for (let k = 1 + Math.floor(r.uniform() * 8); k > 0; k--) b[Math.floor(r.uniform() * n)] = r.nextU32() & 0xff;
      return b;
    }
    case 2:
      return bytes.slice(0, at());
    case 3: {
      const i = at(),
        extra = Uint8Array.from({ length: 1 + Math.floor(r.uniform() * 16) }, () => r.nextU32() & 0xff);
      return Uint8Array.from([...bytes.subarray(0, i), ...extra, ...bytes.subarray(i)]);
    }
    case 4: {
      const i = at(),
        j = Math.min(n, i + 1 + Math.floor(r.uniform() * 16));
      return Uint8Array.from([...bytes.subarray(0, i), ...bytes.subarray(j)]);
    }
    case 5: {
      const i = at(),
        j = Math.min(n, i + 1 + Math.floor(r.uniform() * 32));
      return Uint8Array.from([...bytes.subarray(0, j), ...bytes.subarray(i, j), ...bytes.subarray(j)]);
    }
    default: {
      // a small number written as text somewhere in the first bytes (safetensors' JSON, protobuf lengths)
      const b = bytes.slice(),
        i = Math.floor(r.uniform() * Math.min(n, 400));
      b.set(Buffer.from(String(Math.floor(r.uniform() * 1e6)).slice(0, Math.max(0, n - i))), i);
      return b;
    }
  }
}

describe('fuzz', () => {
  for (const [name, open, good] of [
    ['safetensors', openSt, GOOD_ST],
    ['ckpt', openCkpt, GOOD_CKPT],
  ] as const) {
    it(`10,000 random mutations of a ${name} file: a correct load or a clear error, every time`, () => {
      const r = new Rng(name === 'ckpt' ? 2024 : 2025);
      const outcomes = new Map<string, number>();
      for (let i = 0; i < 10_000; i++) {
        const bytes = mutate(r, good);
        const message = attempt(open, bytes, `fuzz.${name}`);
        const kind = message === '' ? 'loaded' : message.replace(/[0-9]+/g, '#').slice(0, 60);
        outcomes.set(kind, (outcomes.get(kind) ?? 0) + 1);
      }
      assert.ok(outcomes.size > 5, `varied outcomes: ${[...outcomes.keys()].join(' | ')}`);
    });
  }
});
