/**
 * What every checkpoint reader offers: named tensors, described up front and read one at a time
 * (so a file is never loaded whole), each checked against its checksum when the file has one.
 * A ViewStore derives tensors from other stores (renamed, permuted, merged from slices, cast)
 * without reading anything until asked.
 */
import { decodeF32, tensorBytes, type DType } from './dtypes.ts';

/** A tensor's element type and shape. */
export interface TensorInfo {
  dtype: DType;
  shape: number[];
}

/** Named tensors read on demand. */
export interface TensorStore {
  /** the file or folder, for messages */
  readonly where: string;
  /** every tensor, in the order of the file */
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  /** free-form strings stored with the tensors (safetensors `__metadata__`) */
  readonly metadata: Readonly<Record<string, string>>;
  /** A tensor's little-endian bytes in a fresh buffer (checksum verified). */
  read(name: string): Promise<Uint8Array>;
  /** The same, blocking. */
  readSync(name: string): Uint8Array;
  close(): void;
}

/** The description of `name` in `store`; the error names both. */
export function infoOf(store: TensorStore, name: string): TensorInfo {
  const t = store.tensors.get(name);
  if (!t) throw new Error(`${store.where}: no tensor named ${name}`);
  return t;
}

/** A tensor's values as f32 (any numeric dtype). */
export async function readF32(store: TensorStore, name: string): Promise<Float32Array> {
  return decodeF32(await store.read(name), infoOf(store, name).dtype, `${store.where}: tensor ${name}`);
}

/**
 * The tensors `names` of a store in order, each read while the one before is being used (so
 * reading, checksumming and the caller's work overlap).
 */
export async function* readEach(store: TensorStore, names: readonly string[]): AsyncGenerator<[string, Uint8Array]> {
  let next = names.length ? store.read(names[0]) : undefined;
  try {
    for (let i = 0; i < names.length; i++) {
      const bytes = await next!;
      next = i + 1 < names.length ? store.read(names[i + 1]) : undefined;
      yield [names[i], bytes];
    }
  } finally {
    next?.catch(() => undefined);
  }
}

/** A tensor computed from tensors of other stores. */
export interface DerivedTensor {
  info: TensorInfo;
  /** the tensors it is made from */
  parts: { store: TensorStore; name: string }[];
  /** Their bytes (in the order of parts) to this tensor's bytes. */
  make(parts: Uint8Array[]): Uint8Array;
}

/** A store whose tensors are derived from other stores; closing it closes `owned`. */
export class ViewStore implements TensorStore {
  readonly tensors: ReadonlyMap<string, TensorInfo>;

  constructor(
    readonly where: string,
    private readonly derived: ReadonlyMap<string, DerivedTensor>,
    private readonly owned: TensorStore[],
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    this.tensors = new Map([...derived].map(([name, d]) => [name, d.info]));
  }

  private get(name: string): DerivedTensor {
    const d = this.derived.get(name);
    if (!d) throw new Error(`${this.where}: no tensor named ${name}`);
    return d;
  }

  private finish(name: string, d: DerivedTensor, parts: Uint8Array[]): Uint8Array {
    const out = d.make(parts);
    const want = tensorBytes(d.info.dtype, d.info.shape);
    if (out.length !== want)
      throw new Error(
        `${this.where}: tensor ${name} came out as ${out.length} bytes, ${d.info.dtype}[${d.info.shape}] needs ${want}`,
      );
    return out;
  }

  async read(name: string): Promise<Uint8Array> {
    const d = this.get(name);
    const parts: Uint8Array[] = [];
    for (const p of d.parts) parts.push(await p.store.read(p.name));
    return this.finish(name, d, parts);
  }

  readSync(name: string): Uint8Array {
    const d = this.get(name);
    return this.finish(
      name,
      d,
      d.parts.map((p) => p.store.readSync(p.name)),
    );
  }

  close(): void {
    for (const s of this.owned) s.close();
  }
}

/** The same tensor under another name. */
export function renamed(store: TensorStore, name: string): DerivedTensor {
  return { info: infoOf(store, name), parts: [{ store, name }], make: ([b]) => b };
}
