/**
 * The file formats on their own: float conversions against PyTorch's, CRC-32, safetensors and
 * sharded folders of every dtype, and .ckpt files checked both ways against an independent
 * protobuf implementation (python3-protobuf with test/reference/checkpoint.proto): the files
 * written here parse there with the same parameters, and files written there read here.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CkptFile } from '../../src/checkpoint/ckpt.ts';
import { crc32, crc32Portable } from '../../src/checkpoint/crc32.ts';
import { decodeF32, DTYPE_BYTES, encodeFloat, tensorBytes, type DType } from '../../src/checkpoint/dtypes.ts';
import { openTensors } from '../../src/checkpoint/open.ts';
import { SafetensorsFile } from '../../src/checkpoint/safetensors.ts';
import { writeTensors, type OutputTensor } from '../../src/checkpoint/write.ts';
import { Rng } from '../../src/runtime/random.ts';
import { assertSameTensors, oracleParse, oracleWrite, scratch } from './helpers.ts';

const dir = scratch();

/** Random bytes for a tensor of every dtype (shapes include a scalar and an empty tensor). */
function sampleTensors(seed: number): OutputTensor[] {
  const rng = new Rng(seed);
  const shapes = [[3, 5], [7], [], [2, 0, 4], [4, 3, 2]];
  return (Object.keys(DTYPE_BYTES) as DType[]).map((dtype, i) => {
    const shape = shapes[i % shapes.length];
    const bytes = Uint8Array.from({ length: tensorBytes(dtype, shape) }, () => rng.nextU32() & 0xff);
    return { name: `t.${i}.${dtype}`, info: { dtype, shape }, bytes: () => bytes };
  });
}

describe('float conversions', () => {
  it('f32 to bf16 and f16 round to nearest even exactly as PyTorch does (ties, subnormals, overflow, NaN)', () => {
    const rng = new Rng(5);
    const bits = new Uint32Array(20000);
    for (let i = 0; i < bits.length; i++) bits[i] = rng.nextU32();
    // values near f16's range and on rounding ties
    for (let i = 0; i < 4000; i++)
      bits[i] =
        ((rng.nextU32() & 0x80000000) | ((100 + (rng.nextU32() % 50)) << 23) | (rng.nextU32() & 0x7fffff)) >>> 0;
    for (let i = 4000; i < 6000; i++) bits[i] = (bits[i] & 0xffff8000) | 0x1000;
    const values = new Float32Array(bits.buffer);
    const raw = join(dir, 'f32.bin');
    writeFileSync(raw, values);
    const torch = (dtype: string) =>
      execFileSync('/usr/bin/python3', [
        '-c',
        `import sys, torch; d = open(sys.argv[1], 'rb').read(); t = torch.frombuffer(bytearray(d), dtype=torch.float32).to(torch.${dtype}); sys.stdout.buffer.write(t.view(torch.int16).numpy().tobytes())`,
        raw,
      ]);
    for (const [dtype, name] of [
      ['BF16', 'bfloat16'],
      ['F16', 'float16'],
    ] as const) {
      const ours = new Uint16Array(encodeFloat(values, dtype, 'test').buffer),
        theirs = new Uint16Array(Uint8Array.from(torch(name)).buffer);
      for (let i = 0; i < ours.length; i++) {
        const nan = (v: number) => (v & 0x7fff) > (dtype === 'BF16' ? 0x7f80 : 0x7c00);
        if (nan(theirs[i])) assert.ok(nan(ours[i]), `${dtype} NaN at ${i}`);
        else assert.equal(ours[i], theirs[i], `${dtype} bits of ${values[i]} (f32 bits ${bits[i].toString(16)})`);
      }
      const finite = ours.filter((v) => (v & 0x7fff) < (dtype === 'BF16' ? 0x7f80 : 0x7c00));
      const back = decodeF32(new Uint8Array(finite.buffer), dtype, 'test');
      assert.deepEqual(
        new Uint16Array(encodeFloat(back, dtype, 'test').buffer),
        finite,
        `${dtype} → f32 → ${dtype} is exact`,
      );
    }
  });

  it('CRC-32: the native and the portable checksum agree, on the standard check value too', () => {
    assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
    const rng = new Rng(2),
      data = Uint8Array.from({ length: 100003 }, () => rng.nextU32() & 0xff);
    assert.equal(crc32Portable(data), crc32(data));
    assert.equal(crc32Portable(data.subarray(500), crc32Portable(data.subarray(0, 500))), crc32(data));
  });
});

describe('safetensors', () => {
  it('every dtype round-trips through a file with checksums, read blocking and not', async () => {
    const tensors = sampleTensors(1),
      path = join(dir, 'all.safetensors');
    await writeTensors(path, 'safetensors', tensors, { metadata: { note: 'x' } });
    const f = SafetensorsFile.open(path);
    assert.ok(f.checksummed);
    assert.equal(f.metadata.note, 'x');
    assert.equal(f.metadata.format, 'pt');
    for (const t of tensors) {
      assert.deepEqual(f.tensors.get(t.name), t.info);
      assert.ok(Buffer.from(await f.read(t.name)).equals(Buffer.from(await t.bytes())), t.name);
      assert.ok(Buffer.from(f.readSync(t.name)).equals(Buffer.from(await t.bytes())), t.name);
    }
    f.close();
  });

  it('a sharded folder (model.safetensors.index.json) reads as one checkpoint', async () => {
    const tensors = sampleTensors(2),
      path = join(dir, 'sharded');
    await writeTensors(path, 'hf', tensors, { maxShardBytes: 64 });
    const index = JSON.parse(execFileSync('cat', [join(path, 'model.safetensors.index.json')], { encoding: 'utf8' }));
    assert.ok(new Set(Object.values(index.weight_map)).size > 2, 'several shards');
    const whole = join(dir, 'whole.safetensors');
    await writeTensors(whole, 'safetensors', tensors);
    await assertSameTensors(openTensors(path), openTensors(whole));
  });
});

describe('MindSpore .ckpt', () => {
  it('files written here parse with python3-protobuf and checkpoint.proto: same parameters, pieces, checksums', async () => {
    const tensors = sampleTensors(3).filter((t) => !t.info.dtype.startsWith('F8')),
      path = join(dir, 'all.ckpt');
    await writeTensors(path, 'ckpt', tensors, { sliceBytes: 16 });
    const parsed = oracleParse(path);
    assert.deepEqual(
      parsed.map((p) => p.tag),
      tensors.map((t) => t.name),
    );
    for (const [i, t] of tensors.entries()) {
      const bytes = await t.bytes(),
        p = parsed[i];
      assert.deepEqual(p.dims, t.info.shape, t.name);
      assert.equal(p.sha256, createHash('sha256').update(bytes).digest('hex'), t.name);
      assert.equal(p.pieces, Math.max(1, Math.ceil(bytes.length / 16)), `${t.name} pieces`);
      assert.ok(p.crc_ok, `${t.name} checksum`);
    }
    const f = CkptFile.open(path);
    assert.ok(f.checksummed);
    for (const t of tensors) assert.ok(Buffer.from(await f.read(t.name)).equals(Buffer.from(await t.bytes())), t.name);
    f.close();
  });

  it('files written by python3-protobuf read here: pieces joined, scalars stored with dims [0], every type', async () => {
    const rng = new Rng(4);
    const hex = (n: number) => Buffer.from(Uint8Array.from({ length: n }, () => rng.nextU32() & 0xff)).toString('hex');
    const spec = [
      { tag: 'w', dims: [6, 4], type: 'Float32', hex: hex(96), pieces: 3 },
      { tag: 'b16', dims: [5], type: 'BFloat16', hex: hex(10), pieces: 1 },
      { tag: 'h', dims: [2, 2], type: 'Float16', hex: hex(8), pieces: 2 },
      { tag: 'global_step', dims: [0], type: 'Int32', hex: hex(4) },
      { tag: 'epoch_num', dims: [], type: 'Int64', hex: hex(8) },
      { tag: 'flags', dims: [3], type: 'Bool', hex: '010001' },
      { tag: 'u', dims: [2], type: 'UInt8', hex: hex(2) },
      { tag: 'd', dims: [1], type: 'Float64', hex: hex(8) },
    ];
    const specPath = join(dir, 'spec.json'),
      path = join(dir, 'python.ckpt');
    writeFileSync(specPath, JSON.stringify(spec));
    oracleWrite(specPath, path);
    const f = CkptFile.open(path);
    assert.ok(!f.checksummed);
    const want: Record<string, [DType, number[]]> = {
      w: ['F32', [6, 4]],
      b16: ['BF16', [5]],
      h: ['F16', [2, 2]],
      global_step: ['I32', []],
      epoch_num: ['I64', []],
      flags: ['BOOL', [3]],
      u: ['U8', [2]],
      d: ['F64', [1]],
    };
    for (const s of spec) {
      assert.deepEqual(f.tensors.get(s.tag), { dtype: want[s.tag][0], shape: want[s.tag][1] }, s.tag);
      assert.equal(Buffer.from(await f.read(s.tag)).toString('hex'), s.hex, s.tag);
    }
    f.close();
  });
});
