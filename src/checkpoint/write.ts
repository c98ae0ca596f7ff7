/**
 * Writing tensors out, one at a time in a single pass: a MindSpore `.ckpt`, a safetensors file,
 * or a Hugging Face folder (`config.json` and `model.safetensors`, or shards
 * `model-0000i-of-0000n.safetensors` with `model.safetensors.index.json` when larger than
 * `maxShardBytes`). Every output is made under a temporary name and renamed when complete.
 */
import { dirname, join } from 'node:path';
import { existsSync, writeFileSync } from 'node:fs';
import { makeFolders, writeAtomically } from '../io/atomic.ts';
import { configToHF, type LlamaConfig } from '../model/config.ts';
import { CkptWriter } from './ckpt.ts';
import { tensorBytes } from './dtypes.ts';
import { SafetensorsWriter } from './safetensors.ts';
import type { TensorInfo, TensorStore } from './store.ts';

/** The file formats tensors can be written in. */
export type OutputFormat = 'ckpt' | 'safetensors' | 'hf';

/** One tensor to write: its name, type and shape now, its bytes when asked. */
export interface OutputTensor {
  name: string;
  info: TensorInfo;
  bytes(): Promise<Uint8Array> | Uint8Array;
  /** the same bytes in pieces, which safetensors outputs write one by one instead of calling bytes() */
  chunks?(): Iterable<Uint8Array>;
}

/** How to write. */
export interface WriteOptions {
  /** safetensors `__metadata__` strings */
  metadata?: Record<string, string>;
  /** written as config.json in an `hf` folder */
  config?: LlamaConfig;
  /** shard an `hf` folder above this many bytes of tensors (default 5 GB, as transformers does) */
  maxShardBytes?: number;
  /** the largest `.ckpt` piece (default MindSpore's 512 MiB) */
  sliceBytes?: number;
  /** called after each tensor is written (progress lines) */
  onTensor?: (t: OutputTensor) => void;
}

/** Every tensor of a store as output tensors (same names). */
export function storeTensors(store: TensorStore): OutputTensor[] {
  return [...store.tensors].map(([name, info]) => ({ name, info, bytes: () => store.read(name) }));
}

/** Writes tensors to `path` in `format` (missing parent folders are made); `path` must not exist yet. */
export async function writeTensors(
  path: string,
  format: OutputFormat,
  tensors: OutputTensor[],
  options: WriteOptions = {},
): Promise<void> {
  if (existsSync(path)) throw new Error(`${path} already exists; choose another output path`);
  makeFolders(dirname(path));
  if (format === 'hf') {
    await writeAtomically(path, (dir) => writeHFFolder(dir, tensors, options), { folder: true });
  } else {
    await writeAtomically(path, (tmp) => writeFile(tmp, format, tensors, options));
  }
}

/** Writes one file (at a path the caller renames into place). */
export async function writeFile(
  path: string,
  format: 'ckpt' | 'safetensors',
  tensors: OutputTensor[],
  options: WriteOptions = {},
): Promise<void> {
  const writer =
    format === 'ckpt'
      ? new CkptWriter(path, options.sliceBytes)
      : new SafetensorsWriter(
          path,
          tensors.map((t) => [t.name, t.info]),
          options.metadata,
        );
  try {
    for (const t of tensors) {
      if (writer instanceof CkptWriter) writer.add(t.name, t.info, await t.bytes());
      else if (t.chunks) await writer.addChunks(t.name, t.chunks());
      else writer.add(t.name, await t.bytes());
      options.onTensor?.(t);
    }
    writer.finish();
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/** Fills a new folder with a Hugging Face checkpoint. */
async function writeHFFolder(dir: string, tensors: OutputTensor[], options: WriteOptions): Promise<void> {
  if (options.config)
    writeFileSync(join(dir, 'config.json'), JSON.stringify(configToHF(options.config), null, 2) + '\n');
  const limit = options.maxShardBytes ?? 5e9;
  const shards: OutputTensor[][] = [[]];
  let size = 0,
    total = 0;
  for (const t of tensors) {
    const n = tensorBytes(t.info.dtype, t.info.shape);
    if (size > 0 && size + n > limit) {
      shards.push([]);
      size = 0;
    }
    shards[shards.length - 1].push(t);
    size += n;
    total += n;
  }
  if (shards.length === 1) return writeFile(join(dir, 'model.safetensors'), 'safetensors', tensors, options);
  const weightMap: Record<string, string> = {};
  const pad = (i: number) => String(i).padStart(5, '0');
  for (const [i, shard] of shards.entries()) {
    const file = `model-${pad(i + 1)}-of-${pad(shards.length)}.safetensors`;
    await writeFile(join(dir, file), 'safetensors', shard, options);
    for (const t of shard) weightMap[t.name] = file;
  }
  writeFileSync(
    join(dir, 'model.safetensors.index.json'),
    JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n',
  );
}
