/**
 * A model's parameters as tensors to write: base weights as they are stored (f32, or bf16 bit
 * for bit; int8 weights dequantized to f32) or cast to a chosen float type, norms f32, LoRA
 * factors f32; named in the Hugging Face or the MindFormers layout.
 */
import { WeightType } from '../runtime/kernels.ts';
import type { LlamaWeights } from '../model/weights.ts';
import { castFloat, type DType } from './dtypes.ts';
import { mapName } from './names.ts';
import type { OutputTensor } from './write.ts';

/** Which tensors, named how, stored how. */
export interface ModelTensorOptions {
  layout?: 'hf' | 'mindformers';
  /** cast base weights and norms to this float type (default: as stored) */
  dtype?: DType;
  /** include base weights (default true) */
  base?: boolean;
  /** include LoRA factors (default true) */
  lora?: boolean;
}

/** A copy of f32 values as bytes. */
function f32Bytes(values: Float32Array): Uint8Array {
  return new Uint8Array(Float32Array.from(values).buffer);
}

/** The parameters of `w` as output tensors (read from the arena when written). */
export function modelTensors(w: LlamaWeights, o: ModelTensorOptions = {}): OutputTensor[] {
  const arena = w.core.arena,
    name = (n: string) => mapName(n, 'hf', o.layout ?? 'hf');
  const out: OutputTensor[] = [];
  const cast = (bytes: Uint8Array, from: DType, n: string) => (o.dtype ? castFloat(bytes, from, o.dtype, n) : bytes);
  if (o.base ?? true) {
    for (const t of w.baseTensors()) {
      const m = t.matrix;
      const stored: DType = m?.wt === WeightType.BF16 ? 'BF16' : 'F32';
      out.push({
        name: name(t.name),
        info: { dtype: o.dtype ?? stored, shape: t.shape },
        bytes: () => {
          if (!m) return cast(f32Bytes(arena.f32(t.vector!, t.shape[0])), 'F32', t.name);
          if (m.wt === WeightType.BF16) {
            const stored = m.host
              ? new Uint8Array(m.host.data)
              : new Uint8Array(arena.memory.buffer, m.ptr, m.rows * m.cols * 2); // a streamed layer's home
            return cast(stored.slice(), 'BF16', t.name);
          }
          return cast(f32Bytes(w.getMatrix(m)), 'F32', t.name);
        },
      });
    }
  }
  if (o.lora ?? true) out.push(...loraFactorTensors(w, o.layout));
  return out;
}

/** A tensor whose bytes are at hand (read from the arena when asked). */
export interface ResidentTensor extends OutputTensor {
  bytes(): Uint8Array;
}

/** The LoRA factors of `w` (A then B of each linear, layer by layer), f32, named in `layout`. */
export function loraFactorTensors(w: LlamaWeights, layout: 'hf' | 'mindformers' = 'hf'): ResidentTensor[] {
  const arena = w.core.arena;
  return w.layers.flatMap((layer) =>
    Object.values(layer.lora).flatMap((ad) =>
      [ad.a, ad.b].map((p) => ({
        name: mapName(p.name, 'hf', layout),
        info: { dtype: 'F32' as const, shape: p.shape },
        bytes: () => f32Bytes(arena.f32(p.ptr, p.n)),
      })),
    ),
  );
}
