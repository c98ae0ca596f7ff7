/** Test helpers: both core builds, moving arrays in and out of a core, closeness checks. */
import assert from 'node:assert/strict';
import { floatToHalf } from '../src/checkpoint/dtypes.ts';
import { BLOCK_SCALES_AT, GGML_TYPES, type BlockType } from '../src/checkpoint/gguf/format.ts';
import { loadCore, relaxedSupported, type Core, type CoreKind } from '../src/runtime/core.ts';
import { Rng } from '../src/runtime/random.ts';

/** The core builds this engine can run (relaxed only where supported). */
export async function coreKinds(): Promise<CoreKind[]> {
  return (await relaxedSupported()) ? ['relaxed', 'simd'] : ['simd'];
}

/** A loaded core plus helpers that copy typed arrays into fresh arena space and back. */
export interface TestCore extends Core {
  put(a: Float32Array | Int32Array | Uint16Array | Int8Array): number;
  zeros(n: number): number;
  f32(ptr: number, n: number): Float32Array;
}

/** Loads the given build with array helpers attached. */
export async function testCore(kind: CoreKind): Promise<TestCore> {
  const core = await loadCore({ kind });
  const { arena } = core;
  return {
    ...core,
    put(a) {
      const p = arena.alloc(Math.max(a.byteLength, 4));
      new Uint8Array(arena.memory.buffer, p, a.byteLength).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      return p;
    },
    zeros(n) {
      const p = arena.alloc(n * 4);
      arena.f32(p, n).fill(0);
      return p;
    },
    f32(ptr, n) {
      return Float32Array.from(arena.f32(ptr, n));
    },
  };
}

/** Asserts max|a − e| ≤ rtol·max|e| + atol, naming the tensor in the message. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  label: string,
  atol = 0,
): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  let err = 0,
    scale = 0,
    at = -1;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= err)) {
      err = d;
      at = i;
    }
    scale = Math.max(scale, Math.abs(expected[i]));
  }
  const bound = rtol * scale + atol;
  assert.ok(
    err <= bound,
    `${label}: max error ${err.toExponential(3)} at ${at} (got ${actual[at]}, want ${expected[at]}) exceeds ${bound.toExponential(3)}`,
  );
}

/** f16 bits of a number (through f32). */
function f16(v: number): number {
  return floatToHalf(new Uint32Array(new Float32Array([v]).buffer)[0]);
}

/** `n` values' worth of random blocks of `type` (random quants and scales, f16 scales of a normal's size). */
export function randomBlocks(type: BlockType, n: number, seed: number): Uint8Array {
  const { block, bytes } = GGML_TYPES[type],
    rng = new Rng(seed),
    out = new Uint8Array((n / block) * bytes),
    dv = new DataView(out.buffer);
  for (let i = 0; i < out.length; i++) out[i] = rng.nextU32() & 255;
  for (let b = 0; b < n / block; b++)
    for (const at of BLOCK_SCALES_AT[type]) dv.setUint16(b * bytes + at, f16(0.01 * rng.normal()), true);
  return out;
}
