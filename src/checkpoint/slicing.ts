/**
 * Model parallelism's slices of each parameter, as MindFormers lays them out for Llama:
 * column-parallel linears (wq wk wv w1 w3) split their output rows, row-parallel ones (wo w2)
 * their input columns, the embedding and the LM head split the vocabulary rows; norms are
 * whole on every rank. A LoRA adapter follows its linear: B [out, r] splits with a
 * column-parallel weight's rows, A [r, in] with a row-parallel weight's columns, and the other
 * factor is whole. Rank r of a world of data_parallel × model_parallel ranks holds slice
 * r mod model_parallel.
 */
import { DTYPE_BYTES } from './dtypes.ts';
import { shardAxis, type ModelShare } from '../model/sharding.ts';
import { isQkvBias, parseName, type Layout, type ParamKey } from './names.ts';
import { infoOf, ViewStore, type DerivedTensor, type TensorInfo, type TensorStore } from './store.ts';

/** The axis a parameter is split on (undefined: whole on every rank). */
export function splitAxis(key: ParamKey | undefined): 0 | 1 | undefined {
  if (!key) return undefined;
  if (key.part === 'embed' || key.part === 'head') return 0;
  if (key.part !== 'layer' || key.kind === 'attnNorm' || key.kind === 'ffnNorm') return undefined;
  if (isQkvBias(key.kind)) return 0; // the bias of a column-parallel linear: its rows' slice
  return shardAxis(key.kind!, key.lora);
}

/** The shape of one of `parts` slices along `axis`; `what` names the tensor when it does not divide. */
export function sliceShape(shape: readonly number[], axis: 0 | 1, parts: number, what: string): number[] {
  if (shape.length !== 2)
    throw new Error(`${what}: shape [${shape}] cannot be split for model parallelism (2 dimensions needed)`);
  if (shape[axis] % parts !== 0)
    throw new Error(`${what}: dimension ${axis} of [${shape}] does not divide into ${parts} model-parallel slices`);
  const out = [...shape];
  out[axis] /= parts;
  return out;
}

/** Slice `index` of `parts` of a row-major matrix's bytes along `axis`. */
export function sliceBytes(bytes: Uint8Array, info: TensorInfo, axis: 0 | 1, parts: number, index: number): Uint8Array {
  const [rows, cols] = info.shape,
    elem = DTYPE_BYTES[info.dtype];
  if (axis === 0) {
    const n = (rows / parts) * cols * elem;
    return bytes.slice(index * n, (index + 1) * n);
  }
  const w = (cols / parts) * elem,
    rowBytes = cols * elem,
    out = new Uint8Array(rows * w);
  for (let r = 0; r < rows; r++)
    out.set(bytes.subarray(r * rowBytes + index * w, r * rowBytes + (index + 1) * w), r * w);
  return out;
}

/** Joins slices (each of shape `slice`) back along `axis`. */
export function joinBytes(slices: Uint8Array[], slice: TensorInfo, axis: 0 | 1): Uint8Array {
  const [rows, cols] = slice.shape,
    elem = DTYPE_BYTES[slice.dtype];
  const out = new Uint8Array(slices.reduce((s, b) => s + b.length, 0));
  if (axis === 0) {
    let at = 0;
    for (const b of slices) {
      out.set(b, at);
      at += b.length;
    }
    return out;
  }
  const w = cols * elem,
    rowBytes = w * slices.length;
  for (const [i, b] of slices.entries())
    for (let r = 0; r < rows; r++) out.set(b.subarray(r * w, (r + 1) * w), r * rowBytes + i * w);
  return out;
}

/**
 * The model-parallel degree of a rank's checkpoint: layer 0's wq holds hidden/model_parallel
 * rows of hidden columns (Llama's query width is the hidden size), or its LoRA B as many rows
 * as its A has columns; 1 when the store has neither.
 */
export function inferModelParallel(store: TensorStore, layout: Layout): number {
  const find = (lora?: 'A' | 'B') =>
    [...store.tensors].find(([n]) => {
      const k = parseName(n, layout);
      return k && !k.prefix && k.layer === 0 && k.kind === 'wq' && k.lora === lora;
    })?.[1];
  const w = find(),
    a = find('A'),
    b = find('B');
  const [rows, cols] = w ? w.shape : a && b ? [b.shape[0], a.shape[1]] : [1, 1];
  if (!(rows > 0) || cols % rows !== 0)
    throw new Error(`${store.where}: layer 0's wq is [${rows}, ${cols}], not a model-parallel slice of a Llama model`);
  return cols / rows;
}

/**
 * A whole model's tensors (Hugging Face names) as one model-parallel rank of wasmformers holds
 * them (src/model/sharding.ts: the embedding and the head stay whole), sliced when read.
 */
export function rankShareOf(store: TensorStore, share: ModelShare): ViewStore {
  const derived = new Map<string, DerivedTensor>();
  for (const [name, info] of store.tensors) {
    const key = parseName(name, 'hf');
    const linear =
      key?.part === 'layer' && key.kind !== 'attnNorm' && key.kind !== 'ffnNorm' && !isQkvBias(key.kind)
        ? key.kind
        : undefined;
    const axis = linear && shardAxis(linear, key!.lora); // q/k/v biases: the model refuses model_parallel with them
    if (axis === undefined) {
      derived.set(name, { info, parts: [{ store, name }], make: ([b]) => b });
      continue;
    }
    const shape = sliceShape(info.shape, axis, share.parts, `${store.where}: tensor ${name}`);
    derived.set(name, {
      info: { dtype: info.dtype, shape },
      parts: [{ store, name }],
      make: ([b]) => sliceBytes(b, info, axis, share.parts, share.index),
    });
  }
  return new ViewStore(`${store.where} (model-parallel slice ${share.index} of ${share.parts})`, derived, [store]);
}

/** One store of the slices of `stores` (model-parallel ranks 0..n-1, named in `layout`), joined. */
export function joinSlices(where: string, stores: TensorStore[], layout: Layout, owned: TensorStore[]): ViewStore {
  const first = stores[0];
  for (const s of stores)
    for (const name of s.tensors.keys())
      if (!first.tensors.has(name)) throw new Error(`${s.where}: tensor ${name} is not in rank 0's checkpoint`);
  const derived = new Map<string, DerivedTensor>();
  for (const [name, info] of first.tensors) {
    const axis = stores.length > 1 ? splitAxis(parseName(name, layout)) : undefined;
    for (const s of stores) {
      const other = infoOf(s, name);
      if (other.dtype !== info.dtype || other.shape.join() !== info.shape.join())
        throw new Error(
          `${s.where}: tensor ${name} is ${other.dtype}[${other.shape}], rank 0's is ${info.dtype}[${info.shape}]`,
        );
    }
    if (axis === undefined) {
      derived.set(name, { info, parts: [{ store: first, name }], make: ([b]) => b });
      continue;
    }
    const shape = [...info.shape];
    shape[axis] *= stores.length;
    derived.set(name, {
      info: { dtype: info.dtype, shape },
      parts: stores.map((store) => ({ store, name })),
      make: (parts) => joinBytes(parts, info, axis),
    });
  }
  return new ViewStore(where, derived, owned);
}
