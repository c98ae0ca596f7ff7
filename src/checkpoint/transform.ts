/**
 * transform_ckpt: a checkpoint (whole, or rank folders of slices) rewritten as the per-rank
 * slices of another model-parallel degree, in MindFormers' layout
 * `<dst>/<name>/rank_<i>/<prefix><i>.ckpt` (model_parallel 1 merges into rank_0). Each source
 * tensor is read once and its slices go to every rank's file; ranks beyond the first
 * model-parallel group (data-parallel copies) get copies of those files.
 */
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { makeFolders, writeAtomically } from '../io/atomic.ts';
import type { LlamaConfig } from '../model/config.ts';
import { CkptWriter } from './ckpt.ts';
import { detectLayout, parseName } from './names.ts';
import { findConfig, openTensors } from './open.ts';
import { SafetensorsWriter } from './safetensors.ts';
import { sliceBytes, sliceShape, splitAxis } from './slicing.ts';
import type { TensorInfo } from './store.ts';

/** What to transform and how. */
export interface TransformOptions {
  /** a checkpoint file or folder (rank folders are joined first) */
  src: string;
  /** the folder that receives `<name>/rank_<i>/` */
  dstDir: string;
  /** slices per parameter (1: a whole checkpoint) */
  modelParallel: number;
  /** ranks to write (a multiple of modelParallel; default modelParallel) */
  worldSize?: number;
  /** file names are `<prefix><rank>.<ext>` (default `checkpoint_`) */
  prefix?: string;
  format?: 'ckpt' | 'safetensors';
  /** the model's config, to check that heads divide (else config.json beside the source, if any) */
  config?: LlamaConfig;
  /** called after each tensor is written */
  onTensor?: (name: string) => void;
}

/** The folder name MindFormers gives a source: a file's name up to its first dot, or a folder's name. */
export function checkpointName(src: string): string {
  return basename(src.replace(/\/+$/, '')).split('.')[0];
}

/** Writes the slices; returns `<dstDir>/<name>` (which must not exist yet). */
export async function transformCheckpoint(o: TransformOptions): Promise<string> {
  const mp = o.modelParallel,
    world = o.worldSize ?? mp,
    prefix = o.prefix ?? 'checkpoint_',
    format = o.format ?? 'ckpt';
  if (!(Number.isInteger(mp) && mp >= 1)) throw new Error(`model_parallel must be a positive integer, got ${mp}`);
  if (!(Number.isInteger(world) && world >= mp && world % mp === 0))
    throw new Error(`world_size ${world} is not a multiple of model_parallel ${mp}`);
  if (/[/\\]/.test(prefix))
    throw new Error(
      `prefix '${prefix}' must be a file name prefix, without '/' or '\\' (each slice is rank_<i>/<prefix><i>.${format})`,
    );
  const out = join(o.dstDir, checkpointName(o.src));
  if (existsSync(out)) throw new Error(`${out} already exists; choose another destination folder`);
  const store = openTensors(o.src);
  try {
    const config = o.config ?? findConfig(o.src, store);
    if (config && mp > 1 && (config.nHeads % mp !== 0 || config.nKvHeads % mp !== 0)) {
      throw new Error(
        `${o.src}: ${config.nHeads} heads and ${config.nKvHeads} key/value heads do not divide among ${mp} model-parallel ranks`,
      );
    }
    const layout = detectLayout(store.tensors.keys());
    const plan = [...store.tensors].map(([name, info]) => {
      const axis = mp > 1 ? splitAxis(parseName(name, layout)) : undefined;
      const slice: TensorInfo =
        axis === undefined
          ? info
          : { dtype: info.dtype, shape: sliceShape(info.shape, axis, mp, `${o.src}: tensor ${name}`) };
      return { name, info, axis, slice };
    });
    const file = (r: number) => join(`rank_${r}`, `${prefix}${r}.${format}`);
    makeFolders(o.dstDir);
    await writeAtomically(
      out,
      async (tmp) => {
        const writers = Array.from({ length: mp }, (_, r) => {
          mkdirSync(join(tmp, `rank_${r}`));
          const path = join(tmp, file(r));
          return format === 'ckpt'
            ? new CkptWriter(path)
            : new SafetensorsWriter(
                path,
                plan.map((p) => [p.name, p.slice]),
              );
        });
        try {
          for (const p of plan) {
            const bytes = await store.read(p.name);
            for (const [r, w] of writers.entries()) {
              const part = p.axis === undefined ? bytes : sliceBytes(bytes, p.info, p.axis, mp, r);
              if (w instanceof CkptWriter) w.add(p.name, p.slice, part);
              else w.add(p.name, part);
            }
            o.onTensor?.(p.name);
          }
          for (const w of writers) w.finish();
        } catch (err) {
          for (const w of writers) w.abort();
          throw err;
        }
        for (let r = mp; r < world; r++) {
          mkdirSync(join(tmp, `rank_${r}`));
          copyFileSync(join(tmp, file(r % mp)), join(tmp, file(r)));
        }
      },
      { folder: true },
    );
    return out;
  } finally {
    store.close();
  }
}
