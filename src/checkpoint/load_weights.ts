/**
 * Copying an opened checkpoint into a model: every shape checked, base weights and LoRA factors
 * stored in the arena, and what the network has and the checkpoint lacks (and the reverse)
 * reported as MindFormers reports them. Nothing here touches a file system, so a model loads
 * from bytes in memory too (`loadModelFromBytes`: browsers, workers, fetched files).
 */
import type { Core } from '../runtime/core.ts';
import type { LlamaConfig } from '../model/config.ts';
import { LlamaModel, type ModelOptions } from '../model/llama.ts';
import { loraTargets, type LoraConfig } from '../model/lora.ts';
import type { ModelShare } from '../model/sharding.ts';
import { blockTypeName, type LlamaWeights, type WeightOptions } from '../model/weights.ts';
import { isBlockType } from '../runtime/kernels.ts';
import type { BlockType, GgmlType } from './gguf/format.ts';
import { decodeF32 } from './dtypes.ts';
import { GgufFile } from './gguf/file.ts';
import { detectLayout, mapName, type Layout } from './names.ts';
import { checkAdapterLayers, type Adapter } from './peft_adapter.ts';
import { relayout } from './relayout.ts';
import { SafetensorsFile } from './safetensors_file.ts';
import { storedWeightTypes } from './stored_types.ts';
import { MemorySource } from './source.ts';
import { readEach, type TensorStore } from './store.ts';

/** An opened checkpoint: its config and its tensors under Hugging Face names. */
export interface Checkpoint {
  config: LlamaConfig;
  /** tensors by Hugging Face name */
  weights: TensorStore;
  /** how the file names them */
  layout: Layout;
  /** a matrix's blocks of `type` when the file stores it so (a GGUF file), to be taken as is */
  blocks?: (name: string, type: BlockType) => Promise<Uint8Array | undefined>;
  /** the types a GGUF file stores its tensors in, by Hugging Face name (`weights` gives its blocks as F32) */
  storedTypes?: ReadonlyMap<string, GgmlType>;
}

/** Parameters that were not loaded: the network's without a tensor, the checkpoint's without a place. */
export interface LoadReport {
  notLoaded: string[];
  unused: string[];
}

/** MindFormers' line for a load: `Network parameters are not loaded: ([...], [...])`. */
export function formatLoadReport(r: LoadReport): string {
  const list = (names: string[]) => `[${names.map((n) => `'${n}'`).join(', ')}]`;
  return `Network parameters are not loaded: (${list(r.notLoaded)}, ${list(r.unused)})`;
}

/** A tensor a network takes: its HF name and shape. */
export interface WantedTensor {
  name: string;
  shape: number[];
}

/** One tensor the network takes, whether it is a base weight, and where the f32 values go. */
interface Slot extends WantedTensor {
  base: boolean;
  store(values: Float32Array): void;
  /** for a matrix held in blocks: their type, and where its blocks go as they are */
  blocks?: { type: BlockType; store(bytes: Uint8Array): void };
}

function slots(w: LlamaWeights): Slot[] {
  const arena = w.core.arena;
  const out: Slot[] = w.baseTensors().map((t) => ({
    name: t.name,
    shape: t.shape,
    base: true,
    store: (v: Float32Array) => (t.matrix ? w.setMatrix(t.matrix, v) : arena.f32(t.vector!, v.length).set(v)),
    ...(t.matrix && isBlockType(t.matrix.wt)
      ? {
          blocks: {
            type: blockTypeName(t.matrix.wt),
            store: (b: Uint8Array) => w.setMatrixBlocks(t.matrix!, b),
          },
        }
      : {}),
  }));
  for (const layer of w.layers) {
    for (const ad of Object.values(layer.lora)) {
      for (const p of [ad.a, ad.b])
        out.push({ name: p.name, shape: p.shape, base: false, store: (v) => arena.f32(p.ptr, p.n).set(v) });
    }
  }
  return out;
}

/** A Hugging Face name as the checkpoint's layout spells it, for messages. */
function storedName(ckpt: Checkpoint): (name: string) => string {
  return (name) => mapName(name, 'hf', ckpt.layout === 'meta' ? 'hf' : ckpt.layout);
}

/** Throws, naming the tensor, when the checkpoint holds one of `want` in another shape. */
function checkShapes(ckpt: Checkpoint, want: WantedTensor[]): void {
  const store = ckpt.weights,
    as = storedName(ckpt);
  for (const s of want) {
    const t = store.tensors.get(s.name);
    if (t && t.shape.join() !== s.shape.join())
      throw new Error(`${store.where}: tensor ${as(s.name)} has shape [${t.shape}], the model expects [${s.shape}]`);
  }
}

/**
 * Throws, naming the tensors, when the checkpoint lacks one of the base tensors `want` or holds
 * one in another shape: what loading it into that model would stop on.
 */
export function checkBaseTensors(ckpt: Checkpoint, want: WantedTensor[]): void {
  checkShapes(ckpt, want);
  const store = ckpt.weights,
    as = storedName(ckpt);
  const missing = want.filter((s) => !store.tensors.has(s.name)).map((s) => as(s.name));
  if (missing.length)
    throw new Error(
      `${store.where}: missing ${missing.length} tensor(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`,
    );
}

/**
 * Copies a checkpoint's tensors into a model's weights (reading the next tensor while the last
 * is stored); with `base: false` only the LoRA factors (an adapter). Shape mismatches and
 * missing base weights are errors naming the tensors.
 */
export async function loadWeights(weights: LlamaWeights, ckpt: Checkpoint, { base = true } = {}): Promise<LoadReport> {
  const store = ckpt.weights,
    as = storedName(ckpt);
  const want = slots(weights).filter((s) => base || !s.base);
  const present = want.filter((s) => store.tensors.has(s.name));
  checkShapes(ckpt, want);
  checkBaseTensors(
    ckpt,
    want.filter((s) => s.base),
  );
  const slot = new Map(present.map((s) => [s.name, s]));
  const asStored = new Set<string>();
  for (const s of present) {
    const b = s.blocks && (await ckpt.blocks?.(s.name, s.blocks.type));
    if (b) {
      try {
        s.blocks!.store(b);
      } catch (err) {
        throw new Error(`${store.where}: tensor ${as(s.name)}: ${(err as Error).message}`); // a non-finite scale
      }
      asStored.add(s.name);
    }
  }
  for await (const [name, bytes] of readEach(
    store,
    present.filter((s) => !asStored.has(s.name)).map((s) => s.name),
  )) {
    const what = `${store.where}: tensor ${as(name)}`,
      values = decodeF32(bytes, store.tensors.get(name)!.dtype, what);
    try {
      slot.get(name)!.store(values);
    } catch (err) {
      throw new Error(`${what}: ${(err as Error).message}`); // a storage that cannot take it (non-finite scales)
    }
  }
  const taken = new Set(want.map((s) => s.name));
  return {
    notLoaded: want.filter((s) => !store.tensors.has(s.name)).map((s) => as(s.name)),
    unused: [...store.tensors.keys()].filter((n) => !taken.has(n)).map(as),
  };
}

/** Tensors named as stored (in `layout`) as a checkpoint under Hugging Face names. */
export function checkpointOf(
  raw: TensorStore,
  config: LlamaConfig,
  layout: Layout = detectLayout(raw.tensors.keys()),
): Checkpoint {
  const gguf =
    raw instanceof GgufFile
      ? { blocks: raw.blocks.bind(raw), storedTypes: new Map([...raw.records].map(([name, r]) => [name, r.type])) }
      : {};
  return { config, weights: relayout(raw, layout, 'hf', config), layout, ...gguf };
}

/** The weight types of a model that keeps its frozen matrices as `ckpt` stores them (storedWeightTypes). */
export function storedWeightTypesOf(ckpt: Checkpoint): Required<Pick<WeightOptions, 'weightType' | 'matrixTypes'>> {
  return storedWeightTypes(ckpt.config, (name) => ckpt.storedTypes?.get(name) ?? ckpt.weights.tensors.get(name)?.dtype);
}

/** What a model is loaded with besides its checkpoint. */
export interface LoadWithOptions {
  /** an adapter whose LoRA settings the model takes (those of the model options, if any, must agree) and whose factors it loads */
  adapter?: Adapter;
  /** a model-parallel rank: the model is its share (the checkpoint and the adapter's tensors then hold its slices) */
  share?: ModelShare;
  /** receives what was not loaded */
  report?: (r: LoadReport) => void;
}

/** Whether two LoRA settings train the same factors the same way (modules named either way: `wq` or `q_proj`). */
function sameLora(a: LoraConfig, b: LoraConfig): boolean {
  return (
    a.rank === b.rank &&
    a.alpha === b.alpha &&
    a.dropout === b.dropout &&
    loraTargets(a).join() === loraTargets(b).join()
  );
}

/**
 * Builds the model of a checkpoint and loads it, and the factors of an adapter if given; an
 * adapter that reaches past the base's layers or has other LoRA settings than the options ask for
 * is refused, naming it. The caller closes the checkpoint and the adapter.
 */
export async function loadModelWith(
  core: Core,
  ckpt: Checkpoint,
  options: ModelOptions,
  { adapter, share, report }: LoadWithOptions = {},
): Promise<LlamaModel> {
  if (adapter) {
    checkAdapterLayers(adapter, ckpt.config.nLayers);
    if (options.lora && !sameLora(options.lora, adapter.lora))
      throw new Error(
        `${adapter.where}: the adapter's LoRA settings ${JSON.stringify(adapter.lora)} differ from the model's ${JSON.stringify(options.lora)}`,
      );
  }
  const stored = options.asStored && !options.matrixTypes ? storedWeightTypesOf(ckpt) : {};
  const model = new LlamaModel(
    core,
    ckpt.config,
    { ...options, ...stored, ...(adapter ? { lora: adapter.lora } : {}) },
    share,
  );
  const r = await loadWeights(model.weights, ckpt);
  if (adapter) {
    const extra = await loadWeights(
      model.weights,
      { config: ckpt.config, weights: adapter.tensors, layout: 'hf' },
      { base: false },
    );
    r.notLoaded = extra.notLoaded;
    r.unused.push(...extra.unused);
  }
  report?.(r);
  return model;
}

/**
 * Builds a model of `config` and loads it from the bytes of a safetensors file (any layout), and
 * an adapter's factors onto it if given (see loadModelWith); `where` names the bytes in messages.
 */
export async function loadModelFromBytes(
  core: Core,
  safetensors: Uint8Array,
  config: LlamaConfig,
  options: ModelOptions,
  { where = 'model.safetensors', ...rest }: { where?: string } & Omit<LoadWithOptions, 'share'> = {},
): Promise<LlamaModel> {
  const raw = SafetensorsFile.from(new MemorySource(where, safetensors));
  try {
    return await loadModelWith(core, checkpointOf(raw, config), options, rest);
  } finally {
    raw.close();
  }
}
