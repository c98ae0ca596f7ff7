/**
 * Several LoRA adapters beside one frozen base, for serving: each adapter's A and B factors sit in
 * the arena once (an adapter costs its own size, never a copy of the base), and a batched
 * decoding step applies to each sequence the adapter it asked for, without merging anything into
 * the base weights.
 */
import { checkAdapterLayers, openAdapter, PEFT_PREFIX } from '../checkpoint/peft.ts';
import { readF32 } from '../checkpoint/store.ts';
import type { Core } from '../runtime/core.ts';
import type { LlamaConfig } from './config.ts';
import { LINEARS, linearShape, loraScale, loraTargets, type LinearKind } from './lora.ts';
import { loraTensorName } from './weights.ts';

/** One linear's factors: A [rank, in] and B [out, rank] (f32 offsets in the arena) and alpha/rank. */
export interface LoraFactors {
  a: number;
  b: number;
  rank: number;
  scale: number;
}

/** An adapter in the arena: its name (what requests put in `model`) and its factors per layer and linear. */
export interface ServedAdapter {
  name: string;
  /** the adapter folder it came from */
  dir: string;
  layers: Partial<Record<LinearKind, LoraFactors>>[];
  /** bytes of its factors */
  bytes: number;
}

/**
 * Loads the PEFT adapter folder `dir` as `name` into the core's arena for a base of `config`;
 * factors for more layers than the base have, and a missing or misshapen factor, are errors
 * naming the adapter's file (and the tensor).
 */
export async function loadServedAdapter(
  core: Core,
  config: LlamaConfig,
  name: string,
  dir: string,
): Promise<ServedAdapter> {
  const adapter = openAdapter(dir);
  try {
    checkAdapterLayers(adapter, config.nLayers);
    const kinds = loraTargets(adapter.lora),
      scale = loraScale(adapter.lora),
      rank = adapter.lora.rank;
    const layers: ServedAdapter['layers'] = [];
    let bytes = 0;
    for (let l = 0; l < config.nLayers; l++) {
      const layer: Partial<Record<LinearKind, LoraFactors>> = {};
      for (const kind of kinds) {
        const [rows, cols] = linearShape(config, kind);
        const factor = async (which: 'A' | 'B', shape: [number, number]): Promise<number> => {
          const tensor = loraTensorName(l, kind, which),
            info = adapter.tensors.tensors.get(tensor);
          if (!info) {
            const { hf } = LINEARS.find((x) => x.kind === kind)!;
            throw new Error(
              `${adapter.file}: adapter ${name} has no tensor ${PEFT_PREFIX}${tensor} (its other layers have ${hf})`,
            );
          }
          if (info.shape.join() !== shape.join())
            throw new Error(
              `${adapter.file}: tensor ${PEFT_PREFIX}${tensor} has shape [${info.shape}], the base needs [${shape}]`,
            );
          const values = await readF32(adapter.tensors, tensor),
            ptr = core.arena.alloc(values.length * 4);
          core.arena.f32(ptr, values.length).set(values);
          bytes += values.length * 4;
          return ptr;
        };
        layer[kind] = { a: await factor('A', [rank, cols]), b: await factor('B', [rows, rank]), rank, scale };
      }
      layers.push(layer);
    }
    return { name, dir, layers, bytes };
  } finally {
    adapter.tensors.close();
  }
}
