/**
 * Threads inside a rank give the bits of one thread: every kernel that splits its work, on
 * awkward shapes and every weight storage, and a model's training step and decoding, run on a
 * core of three threads (more than this machine's cores, so slices interleave) and on a core of
 * one, compared byte for byte. Each kernel case also checks that the call was split.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { LlamaModel } from '../src/model/llama.ts';
import { loadCore, type Core } from '../src/runtime/core.ts';
import { blockValues, DECODE_ROW_INTS, isBlockType, WeightType, type Kernels } from '../src/runtime/kernels.ts';
import { blockTypeName } from '../src/model/weights.ts';
import { ThreadPool, type Slice } from '../src/runtime/pool.ts';
import { spawnWorkerThread } from '../src/runtime/threads.ts';
import { Rng } from '../src/runtime/random.ts';
import { tinyBatch, tinyConfig } from './model/fixtures.ts';
import { randomBlocks } from './helpers.ts';

const THREADS = 3;

// Every call that goes through a pool, with its slice count, so each case can check it was split.
const splits: number[] = [];
const run = ThreadPool.prototype.run;
ThreadPool.prototype.run = function (this: ThreadPool, slices: Slice[]) {
  splits.push(slices.length);
  run.call(this, slices);
};

type Data = Float32Array | Int32Array | Uint16Array | Int8Array | Uint8Array;

function randomF32(rng: Rng, n: number, scale = 1): Float32Array {
  return Float32Array.from({ length: n }, () => (rng.uniform() * 2 - 1) * scale);
}

/** Weights of `wt` for an [N, K] matrix, and the int8 scales where it needs them. */
function randomWeights(rng: Rng, N: number, K: number, wt: WeightType): { w: Data; scale?: Float32Array } {
  switch (wt) {
    case WeightType.F32:
      return { w: randomF32(rng, N * K, 0.5) };
    case WeightType.BF16:
      return {
        w: Uint16Array.from(randomF32(rng, N * K, 0.5), (v) => new Uint32Array(Float32Array.of(v).buffer)[0] >>> 16),
      };
    case WeightType.I8:
      return {
        w: Int8Array.from({ length: N * K }, () => Math.floor(rng.uniform() * 255) - 127),
        scale: randomF32(rng, N, 0.01),
      };
    default:
      return { w: randomBlocks(blockTypeName(wt), N * K, rng.nextU32()) };
  }
}

/**
 * Copies `data` into both cores, runs `call` on each with the offsets, and asserts that every
 * buffer (inputs written in place included) holds the same bytes, and that the threaded call split.
 */
function sameBits(one: Core, many: Core, label: string, data: Data[], call: (k: Kernels, p: number[]) => void): void {
  const runOn = (core: Core) => {
    const mark = core.arena.mark();
    const ptrs = data.map((d) => {
      const p = core.arena.alloc(Math.max(d.byteLength, 4));
      core.arena.u8(p, d.byteLength).set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
      return p;
    });
    call(core.kernels, ptrs);
    const out = data.map((d, i) => Uint8Array.from(core.arena.u8(ptrs[i], d.byteLength)));
    core.arena.release(mark);
    return out;
  };
  const want = runOn(one);
  splits.length = 0;
  const got = runOn(many);
  assert.ok(
    splits.some((n) => n > 1),
    `${label}: the call was not split (${splits.join(', ') || 'no pool call'})`,
  );
  for (let i = 0; i < data.length; i++) assert.deepEqual(got[i], want[i], `${label}: buffer ${i} differs`);
}

describe('threads inside a rank', async () => {
  const one = await loadCore();
  const many = await loadCore({ threads: THREADS, spawnThread: spawnWorkerThread });
  after(() => many.close());
  const rng = new Rng(11);

  it('the products of every weight storage, by columns, rows and the batched decoding rows, equal one thread bit for bit', () => {
    const types = [
      WeightType.F32,
      WeightType.BF16,
      WeightType.I8,
      WeightType.Q8_0,
      WeightType.Q4_0,
      WeightType.Q5_0,
      WeightType.Q4_1,
      WeightType.Q5_1,
      WeightType.Q4_K,
      WeightType.Q5_K,
      WeightType.Q6_K,
      WeightType.Q3_K,
    ];
    for (const wt of types) {
      // super-blocks take rows of whole 256 values
      const shapes =
        blockValues(wt) === 256
          ? [
              [1, 1040, 256],
              [3, 517, 512],
              [37, 300, 256],
              [64, 517, 768],
            ]
          : [
              [1, 1040, 128],
              [3, 517, 320],
              [37, 300, 64],
              [64, 517, 96],
            ];
      for (const [M, N, K] of shapes) {
        const { w, scale } = randomWeights(rng, N, K, wt);
        const x = randomF32(rng, M * K),
          y = randomF32(rng, M * N);
        const s = scale ?? Float32Array.of(0);
        for (const acc of [false, true])
          sameBits(one, many, `matmulXWt ${WeightType[wt]} ${M}x${N}x${K} acc ${acc}`, [y, x, w, s], (k, p) =>
            k.matmulXWt(p[0], p[1], p[2], scale ? p[3] : 0, M, N, K, wt, acc),
          );
        if (isBlockType(wt))
          for (const acc of [false, true])
            sameBits(one, many, `matmulXWtInt8 ${WeightType[wt]} ${M}x${N}x${K} acc ${acc}`, [y, x, w, s], (k, p) =>
              k.matmulXWtInt8(p[0], p[1], p[2], M, N, K, wt, acc),
            );
        if (M <= 5)
          sameBits(one, many, `matmulXWtRows ${WeightType[wt]} ${M}x${N}x${K}`, [y, x, w, s], (k, p) =>
            k.matmulXWtRows(p[0], p[1], p[2], scale ? p[3] : 0, M, N, K, wt),
          );
        const dy = randomF32(rng, 70 * N),
          dx = randomF32(rng, 70 * K);
        sameBits(one, many, `matmulDyW ${WeightType[wt]} 70x${N}x${K}`, [dx, dy, w, s], (k, p) =>
          k.matmulDyW(p[0], p[1], p[2], scale ? p[3] : 0, 70, N, K, wt, true),
        );
      }
    }
    for (const [M, N, K] of [
      [64, 300, 40],
      [64, 8, 600],
      [129, 16, 257],
    ]) {
      const dw = randomF32(rng, N * K),
        dy = randomF32(rng, M * N),
        x = randomF32(rng, M * K);
      for (const acc of [false, true])
        sameBits(one, many, `matmulDyTX ${M}x${N}x${K}`, [dw, dy, x], (k, p) =>
          k.matmulDyTX(p[0], p[1], p[2], M, N, K, acc),
        );
    }
  });

  it('attention forward, backward (grouped heads) and decoding equal one thread bit for bit', () => {
    const [B, S, H, KVH, D] = [2, 70, 6, 2, 32];
    const q = randomF32(rng, B * S * H * D),
      kk = randomF32(rng, B * S * KVH * D),
      v = randomF32(rng, B * S * KVH * D);
    const o = new Float32Array(B * S * H * D),
      lse = new Float32Array(B * H * S);
    sameBits(one, many, 'attentionForward', [o, lse, q, kk, v], (k, p) =>
      k.attentionForward(p[0], p[1], p[2], p[3], p[4], B, S, H, KVH, D),
    );
    // The backward needs the forward's o and lse: take them from one thread.
    const mark = one.arena.mark();
    const put = (a: Float32Array) => {
      const ptr = one.arena.alloc(a.byteLength);
      one.arena.f32(ptr, a.length).set(a);
      return ptr;
    };
    const [po, pl] = [put(o), put(lse)];
    one.kernels.attentionForward(po, pl, put(q), put(kk), put(v), B, S, H, KVH, D);
    const oF = Float32Array.from(one.arena.f32(po, o.length)),
      lF = Float32Array.from(one.arena.f32(pl, lse.length));
    one.arena.release(mark);
    const dout = randomF32(rng, B * S * H * D);
    const dq = randomF32(rng, q.length),
      dk = randomF32(rng, kk.length),
      dv = randomF32(rng, v.length);
    sameBits(one, many, 'attentionBackward', [dq, dk, dv, dout, q, kk, v, oF, lF], (k, p) =>
      k.attentionBackward(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], p[8], B, S, H, KVH, D),
    );
    const [Bd, Hd, KVHd, Dd, Tmax, T] = [3, 8, 4, 64, 200, 151];
    const qd = randomF32(rng, Bd * Hd * Dd),
      kc = randomF32(rng, Bd * Tmax * KVHd * Dd),
      vc = randomF32(rng, Bd * Tmax * KVHd * Dd),
      od = new Float32Array(Bd * Hd * Dd);
    sameBits(one, many, 'attentionDecode', [od, qd, kc, vc], (k, p) =>
      k.attentionDecode(p[0], p[1], p[2], p[3], Bd, Hd, KVHd, Dd, Tmax, T),
    );
    // the same caches as Bd sequences of their own, at lengths T, T − 50, T − 100
    const cacheBytes = Tmax * KVHd * Dd * 4,
      rowBytes = Hd * Dd * 4;
    sameBits(one, many, 'attentionDecodeRows', [od, qd, kc, vc], (k, p) => {
      const arena = (k === one.kernels ? one : many).arena,
        tab = arena.alloc(Bd * DECODE_ROW_INTS * 4),
        rows = arena.i32(tab, Bd * DECODE_ROW_INTS);
      for (let b = 0; b < Bd; b++)
        rows.set(
          [p[1] + b * rowBytes, p[0] + b * rowBytes, p[2] + b * cacheBytes, p[3] + b * cacheBytes, T - 50 * b],
          b * DECODE_ROW_INTS,
        );
      k.attentionDecodeRows(tab, rows, Hd, KVHd, Dd);
    });
  });

  it('the loss, norms, RoPE, SwiGLU, AdamW and vector kernels equal one thread bit for bit', () => {
    const rows = 17,
      V = 10007;
    const logits = randomF32(rng, rows * V, 4),
      targets = Int32Array.from({ length: rows }, (_, i) => (i === 4 ? -100 : (i * 997) % V));
    const loss = new Float32Array(rows),
      lse = new Float32Array(rows);
    sameBits(one, many, 'crossEntropyForward', [loss, lse, logits, targets], (k, p) =>
      k.crossEntropyForward(p[0], p[1], p[2], p[3], rows, V),
    );
    sameBits(one, many, 'crossEntropyForwardBackward', [loss, lse, logits, targets], (k, p) =>
      k.crossEntropyForwardBackward(p[0], p[1], p[2], p[3], rows, V, 1 / 7),
    );
    const [R, dim] = [140, 2001];
    sameBits(
      one,
      many,
      'rmsnormForward',
      [new Float32Array(R * dim), new Float32Array(R), randomF32(rng, R * dim), randomF32(rng, dim)],
      (k, p) => k.rmsnormForward(p[0], p[1], p[2], p[3], R, dim, 1e-5),
    );
    for (const [B, S] of [
      [1, 600],
      [12, 48],
    ]) {
      const [H, D] = [8, 128];
      const tab = new Float32Array(S * D);
      for (let s = 0; s < S; s++)
        for (let i = 0; i < D / 2; i++) {
          const a = s / 10000 ** ((2 * i) / D);
          tab[s * D + i] = Math.cos(a);
          tab[s * D + D / 2 + i] = Math.sin(a);
        }
      sameBits(one, many, `ropeApply B ${B}`, [randomF32(rng, B * S * H * D), tab], (k, p) =>
        k.ropeApply(p[0], p[1], B, S, H, D, B > 1),
      );
    }
    const n = 600011;
    const [g, u, h] = [randomF32(rng, n, 6), randomF32(rng, n), new Float32Array(n)];
    sameBits(one, many, 'swigluForward', [h, g, u], (k, p) => k.swigluForward(p[0], p[1], p[2], n));
    sameBits(one, many, 'swigluBackward', [randomF32(rng, n), randomF32(rng, n), randomF32(rng, n), g, u], (k, p) =>
      k.swigluBackward(p[0], p[1], p[2], p[3], p[4], n),
    );
    const step = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, bc1: 0.19, bc2: 0.002 };
    const m = 70001;
    sameBits(
      one,
      many,
      'adamw',
      [randomF32(rng, m), randomF32(rng, m), randomF32(rng, m, 0.1), Float32Array.from(randomF32(rng, m), Math.abs)],
      (k, p) => k.adamw(p[0], p[1], p[2], p[3], m, step),
    );
    sameBits(one, many, 'scale', [randomF32(rng, n)], (k, p) => k.scale(p[0], n, 0.3));
    sameBits(one, many, 'axpy', [randomF32(rng, n), randomF32(rng, n)], (k, p) => k.axpy(p[0], p[1], n, -1.7));
    sameBits(one, many, 'multiply', [new Float32Array(n), randomF32(rng, n), randomF32(rng, n)], (k, p) =>
      k.multiply(p[0], p[1], p[2], n),
    );
  });

  it("a model's LoRA training step and its cached decoding equal one thread bit for bit", () => {
    const config = tinyConfig({ dim: 256, nHeads: 8, nKvHeads: 4, ffnDim: 688, vocabSize: 1000, maxSeqLen: 80 });
    const lora = { rank: 8, alpha: 16, dropout: 0, targetModules: '.*wq|.*wk|.*wv|.*wo|.*w1|.*w2|.*w3' };
    const results = [one, many].map((core) => {
      splits.length = 0;
      const mark = core.arena.mark();
      const model = new LlamaModel(core, config, { mode: 'finetune', weightType: WeightType.BF16, lora, seed: 3 });
      model.weights.initRandom(5, 0.1);
      model.weights.initLora(3);
      // LoRA B starts at zero; give it values so the adapters take part in every product.
      for (const t of model.weights.trainable)
        if (t.name.includes('lora_B')) core.arena.f32(t.ptr, t.n).set(randomF32(new Rng(t.n), t.n, 0.05));
      const { ids, labels } = tinyBatch(9, 2, 64, config.vocabSize);
      model.weights.zeroGrads();
      const logits = new Float32Array(2 * 64 * config.vocabSize);
      const { loss } = model.forwardBackward({ inputIds: ids, labels, batchSize: 2, logits });
      const grads = model.weights.trainable.map((t) => Float32Array.from(core.arena.f32(t.grad, t.n)));
      const cache = model.newCache(1, 40);
      const prefill = Float32Array.from(model.forwardCached(cache, ids.subarray(0, 32), 32));
      const steps = [8, 90, 400].map((id) => Float32Array.from(model.forwardCached(cache, Int32Array.of(id), 1)));
      core.arena.release(mark);
      return { loss, logits, grads, prefill, steps, split: splits.filter((n) => n > 1).length };
    });
    const [want, got] = results;
    assert.ok(got.split > 100, `${got.split} calls were split`);
    assert.equal(got.loss, want.loss);
    assert.deepEqual(got.logits, want.logits, 'logits');
    got.grads.forEach((g, i) => assert.deepEqual(g, want.grads[i], `gradient ${i}`));
    assert.deepEqual(got.prefill, want.prefill, 'prefill logits');
    got.steps.forEach((s, i) => assert.deepEqual(s, want.steps[i], `decoding step ${i}`));
  });

  it('a slice that fails on a kernel thread fails the call, whoever ran it, and the pool goes on', () => {
    const pool = (many.kernels as unknown as { pool: ThreadPool }).pool;
    const mark = many.arena.mark();
    const long = 1 << 24,
      big = many.arena.alloc(long * 4);
    // The caller's own slice takes milliseconds, so the woken threads claim the others, the bad one among them.
    const slices: Slice[] = [
      { fn: 'scale', args: [big, long, 1] },
      { fn: 'scale', args: [big, 1024, 1] },
      { fn: 'axpy', args: [0x7ffff000, 0x7ffff000 + 1e6, 1 << 20, 1] },
    ];
    // Until a kernel thread has run the bad slice: on a machine busy with other tests the caller
    // can claim every slice before the woken threads are scheduled, so a fixed number of tries
    // (20 were) can miss it.
    const messages = new Set<string>(),
      fromThread = 'wasmformers core: a kernel thread failed in axpy';
    for (let i = 0; i < 400 && !messages.has(fromThread); i++)
      assert.throws(
        () => pool.run(slices),
        (err: Error) => (messages.add(err.message), true),
      );
    many.arena.release(mark);
    assert.ok(messages.has(fromThread), `a kernel thread's failure was never reported: ${[...messages].join('; ')}`);
    const x = randomF32(rng, 600011);
    sameBits(one, many, 'axpy after a failure', [x, randomF32(rng, x.length)], (k, p) => k.axpy(p[0], p[1], x.length));
  });
});
