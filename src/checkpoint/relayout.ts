/**
 * Renaming a checkpoint's tensors from one layout (Hugging Face, MindFormers, Meta) to another,
 * with Meta's RoPE row order undone or applied to wq and wk. Reads nothing until asked.
 */
import type { LlamaConfig } from '../model/config.ts';
import { DTYPE_BYTES } from './dtypes.ts';
import { formatName, parseName, permuteRopeRows, type Layout } from './names.ts';
import { ViewStore, type DerivedTensor, type TensorStore } from './store.ts';

/**
 * The tensors of `store` (named in `from`) under `to`'s names; names of no model parameter stay
 * as they are. Between Meta's layout and the others, wq and wk rows are reordered, for which the
 * config's head counts are needed.
 */
export function relayout(store: TensorStore, from: Layout, to: Layout, config?: LlamaConfig): TensorStore {
  const derived = new Map<string, DerivedTensor>();
  for (const [name, info] of store.tensors) {
    const key = parseName(name, from);
    const target = key ? formatName(key, to, `${store.where}: tensor ${name}`) : name;
    if (derived.has(target)) throw new Error(`${store.where}: tensors ${name} and another both map to ${target}`);
    let make = ([b]: Uint8Array[]) => b;
    if ((from === 'meta') !== (to === 'meta') && key && !key.lora && (key.kind === 'wq' || key.kind === 'wk')) {
      if (!config)
        throw new Error(
          `${store.where}: tensor ${name} needs the model's head count to reorder its RoPE rows (config.json or params.json)`,
        );
      const heads = key.kind === 'wq' ? config.nHeads : config.nKvHeads;
      const [rows, cols] = info.shape;
      if (info.shape.length !== 2 || rows % heads !== 0 || (rows / heads) % 2 !== 0)
        throw new Error(`${store.where}: tensor ${name} of shape [${info.shape}] does not hold ${heads} heads`);
      make = ([b]) => permuteRopeRows(b, heads, rows, cols, DTYPE_BYTES[info.dtype], to === 'meta' ? 'meta' : 'hf');
    }
    derived.set(target, { info, parts: [{ store, name }], make });
  }
  return new ViewStore(store.where, derived, [store], store.metadata);
}
