/**
 * A randomly initialised model as tensors to write, with the values `LlamaWeights.initRandom`
 * gives: one seeded stream drawn over `baseTensorList`'s order, matrices and biases normal(0, std), norms 1.
 * Values are made a piece at a time into two reused buffers, so no tensor is ever whole in
 * memory, whatever the model's size.
 */
import type { LlamaConfig } from '../model/config.ts';
import { baseTensorList } from '../model/weights.ts';
import { Rng } from '../runtime/random.ts';
import { floatToBf16, numel, tensorBytes } from './dtypes.ts';
import type { OutputTensor } from './write.ts';

/** Values per piece: 4 MiB of f32. */
const PIECE = 1 << 20;

/**
 * Every base tensor of `config`, stored F32 or BF16 (rounded to nearest even). They draw from one
 * stream: write each once, in order (any other use is an error naming the tensor).
 */
export function randomTensors(
  config: LlamaConfig,
  seed: number,
  std: number,
  dtype: 'F32' | 'BF16',
  piece = PIECE,
): OutputTensor[] {
  const rng = new Rng(seed);
  const f32 = new Float32Array(piece),
    bits = new Uint32Array(f32.buffer),
    bf16 = new Uint16Array(piece);
  let next = 0;
  return baseTensorList(config).map((t, i) => {
    const n = numel(t.shape);
    // chunks: [min(piece, n - at)] values each, f32 or bf16 bytes, valid until the next is asked for
    function* chunks(): Generator<Uint8Array> {
      if (i !== next)
        throw new Error(`random tensor ${t.name} asked for out of order (it is number ${i}, the stream is at ${next})`);
      next++;
      for (let at = 0; at < n; at += piece) {
        const m = Math.min(piece, n - at),
          values = f32.subarray(0, m);
        if (t.init === 'ones') values.fill(1);
        else rng.fillNormal(values, std);
        if (dtype === 'F32') {
          yield new Uint8Array(f32.buffer, 0, 4 * m);
        } else {
          for (let k = 0; k < m; k++) bf16[k] = floatToBf16(bits[k]);
          yield new Uint8Array(bf16.buffer, 0, 2 * m);
        }
      }
    }
    const bytes = (): Uint8Array => {
      const out = new Uint8Array(tensorBytes(dtype, t.shape));
      let at = 0;
      for (const c of chunks()) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    };
    return { name: t.name, info: { dtype, shape: t.shape }, bytes, chunks };
  });
}
