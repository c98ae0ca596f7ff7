/**
 * Training checkpoints: the trainable tensors with their AdamW moments, the counters to resume
 * from and the settings that decide which samples each step reads, one safetensors file per save
 * under output/checkpoint/rank_<r>/, named `<prefix>_rank_<r>-<epoch>_<step>.safetensors`
 * (SPEC.md §8), at most keep_checkpoint_max kept, and meta.json naming the last one. Every file
 * is written under a temporary name and renamed, so a file under a checkpoint's name is complete;
 * its own metadata, not meta.json (a pointer for other tools), says where the run stood.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from '../runtime/core.ts';
import { SafetensorsFile, SafetensorsWriter } from '../checkpoint/safetensors.ts';
import { temporaryName, writeAtomically } from '../io/atomic.ts';
import type { Trainable } from '../model/weights.ts';
import type { Faults } from './faults.ts';
import type { SampleSettings, TrainPosition } from './checkpoints.ts';

/** meta.json of a checkpoint folder. */
export interface CheckpointMeta {
  last_epoch: number;
  last_step: number;
  last_ckpt_file: string;
  global_step: number;
}

/** A complete checkpoint file of a rank and the position its metadata gives. */
export interface SavedCheckpoint {
  path: string;
  file: string;
  pos: TrainPosition;
}

/** The folder of rank r's checkpoints. */
export function checkpointDir(outputDir: string, rank: number): string {
  return join(outputDir, 'checkpoint', `rank_${rank}`);
}

/** The names of rank r's checkpoint files (of `prefix`, or any): groups 1 and 2 are the epoch and step. */
function checkpointName(rank: number, prefix?: string): RegExp {
  const p = prefix === undefined ? '.+' : prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return new RegExp(`^${p}_rank_${rank}-(\\d+)_(\\d+)\\.safetensors$`);
}

/** The position in a training checkpoint's metadata; throws naming the file if it has none. */
function positionOf(path: string, m: Record<string, string>): TrainPosition {
  const pos = { epoch: Number(m.epoch), stepInEpoch: Number(m.step), globalStep: Number(m.global_step) };
  if (m.epoch === undefined || ![pos.epoch, pos.stepInEpoch, pos.globalStep].every(Number.isInteger))
    throw new Error(`${path}: no training position in its metadata`);
  return pos;
}

/** The position a checkpoint file's metadata gives. */
export function readPosition(path: string): TrainPosition {
  const f = SafetensorsFile.open(path);
  try {
    return positionOf(path, f.metadata);
  } finally {
    f.close();
  }
}

/** Rank r's complete checkpoints in `dir` (of `prefix`, if given), by global step. */
export function listCheckpoints(dir: string, rank: number, prefix?: string): SavedCheckpoint[] {
  if (!existsSync(dir)) return [];
  const name = checkpointName(rank, prefix);
  return readdirSync(dir)
    .filter((f) => name.test(f))
    .map((file) => ({ path: join(dir, file), file, pos: readPosition(join(dir, file)) }))
    .sort((a, b) => a.pos.globalStep - b.pos.globalStep);
}

/** Points meta.json at `saved`, or removes it (none left). */
export function writeMeta(dir: string, saved: SavedCheckpoint | undefined): void {
  const path = join(dir, 'meta.json');
  if (!saved) return rmSync(path, { force: true });
  const meta: CheckpointMeta = {
    last_epoch: saved.pos.epoch,
    last_step: saved.pos.stepInEpoch,
    last_ckpt_file: saved.file,
    global_step: saved.pos.globalStep,
  };
  const tmp = temporaryName(path);
  writeFileSync(tmp, JSON.stringify(meta, null, 2) + '\n');
  renameSync(tmp, path);
}

/**
 * Saves the tensors and their moments at `pos` with the run's sample settings and points
 * meta.json at the file; returns the file name. Older files are pruned separately
 * (pruneCheckpoints), once every rank holds this one. `faults` may fail it halfway (tests).
 */
export async function saveTrainingCheckpoint(
  core: Core,
  tensors: readonly Trainable[],
  dir: string,
  prefix: string,
  rank: number,
  pos: TrainPosition,
  settings: SampleSettings,
  faults?: Faults,
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const file = `${prefix}_rank_${rank}-${pos.epoch}_${pos.stepInEpoch}.safetensors`;
  const out: { name: string; shape: number[]; data: Float32Array }[] = [];
  const copy = (ptr: number, n: number) => Float32Array.from(core.arena.f32(ptr, n));
  for (const t of tensors) {
    out.push({ name: t.name, shape: t.shape, data: copy(t.ptr, t.n) });
    out.push({ name: `adam_m.${t.name}`, shape: t.shape, data: copy(t.m, t.n) });
    out.push({ name: `adam_v.${t.name}`, shape: t.shape, data: copy(t.v, t.n) });
  }
  const metadata = {
    epoch: String(pos.epoch),
    step: String(pos.stepInEpoch),
    global_step: String(pos.globalStep),
    format: 'wasmformers-train',
    ...Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, String(v)])),
  };
  // Written through the event loop (a turn between tensors and at the rename), so that Ctrl-C
  // during the write is handled and removes the temporary.
  await writeAtomically(join(dir, file), async (tmp) => {
    const writer = new SafetensorsWriter(
      tmp,
      out.map((t) => [t.name, { dtype: 'F32', shape: t.shape }]),
      metadata,
    );
    try {
      for (const [i, t] of out.entries()) {
        if (i === out.length >> 1) await faults?.inSave(pos.globalStep);
        await writer.addChunks(t.name, [new Uint8Array(t.data.buffer)]);
      }
      writer.finish();
    } catch (err) {
      writer.abort();
      throw err;
    }
  });
  writeMeta(dir, { path: join(dir, file), file, pos });
  return file;
}

/** Deletes all but the newest keepMax checkpoints of this prefix and rank (never `keep`). */
export function pruneCheckpoints(dir: string, prefix: string, rank: number, keepMax: number, keep: string): void {
  const name = checkpointName(rank, prefix);
  const files = readdirSync(dir)
    .map((f) => ({ f, m: name.exec(f) }))
    .filter((x) => x.m)
    .map(({ f, m }) => ({ f, epoch: Number(m![1]), step: Number(m![2]) }))
    .sort((a, b) => a.epoch - b.epoch || a.step - b.step);
  for (const old of files.slice(0, Math.max(0, files.length - keepMax)))
    if (old.f !== keep) rmSync(join(dir, old.f), { force: true });
}

/** What one rank says about resuming: the global steps of its complete checkpoints, and that of the named one if it found it. */
export interface RankHoldings {
  steps: number[];
  named: number | null;
}

/** What each rank holds, as "rank 0: steps 5, 10; rank 1: step 5". */
export function describeHoldings(ranks: RankHoldings[]): string {
  return ranks
    .map(
      (h, r) =>
        `rank ${r}: ${h.steps.length === 0 ? 'none' : `step${h.steps.length > 1 ? 's' : ''} ${h.steps.join(', ')}`}`,
    )
    .join('; ');
}

/**
 * The global step every rank resumes from (0: the start), from what each holds: the named
 * checkpoint's step (`--resume_training <file>`), else the newest step all ranks hold. With no
 * step in common, the start when no rank holds more than the run's first save (`firstSave`; the
 * launcher stopped during it); otherwise one line naming each rank's steps.
 */
export function resumeStep(ranks: RankHoldings[], resume: true | string, firstSave: number): number {
  const flag = `--resume_training${resume === true ? '' : ` ${resume}`}`;
  const heldByAll = (step: number) => ranks.every((h) => h.steps.includes(step));
  if (resume !== true) {
    const named = [...new Set(ranks.map((h) => h.named).filter((s) => s !== null))];
    if (named.length === 0)
      throw new Error(`${flag}: no such checkpoint (not a path, nor a file in the rank's checkpoint folder)`);
    if (named.length > 1)
      throw new Error(
        `${flag}: the ranks found different checkpoints under that name (global steps ${named.join(', ')})`,
      );
    if (!heldByAll(named[0]!))
      throw new Error(`${flag}: global step ${named[0]} has no checkpoint on every rank (${describeHoldings(ranks)})`);
    return named[0]!;
  }
  if (ranks.every((h) => h.steps.length === 0)) throw new Error(`${flag}: there is no checkpoint to resume from`);
  const common = ranks[0].steps.filter(heldByAll);
  if (common.length) return Math.max(...common);
  if (ranks.every((h) => h.steps.every((s) => s <= firstSave))) return 0;
  throw new Error(
    `${flag}: no step has a checkpoint on every rank (${describeHoldings(ranks)}), so there is no point to resume from; give another --output_dir to start afresh`,
  );
}

/** The values of `settings` that differ in a checkpoint's metadata (checkpoints from before they were recorded have none). */
function changedSettings(metadata: Record<string, string>, settings: SampleSettings): [string, string, string][] {
  return Object.entries(settings)
    .filter(([k, v]) => metadata[k] !== undefined && metadata[k] !== String(v))
    .map(([k, v]) => [k, metadata[k], String(v)]);
}

/**
 * Restores tensors and moments from a checkpoint file; returns where the run stood. A file
 * written with other sample settings is refused with one line naming the old and new values.
 */
export function loadTrainingCheckpoint(
  core: Core,
  tensors: readonly Trainable[],
  path: string,
  settings: SampleSettings,
): TrainPosition {
  const f = SafetensorsFile.open(path);
  try {
    const pos = positionOf(path, f.metadata),
      changed = changedSettings(f.metadata, settings);
    if (changed.length) {
      throw new Error(
        `--resume_training: ${path} was written with ${changed.map(([k, was]) => `${k} ${was}`).join(' and ')}, ` +
          `this run has ${changed.map(([k, , now]) => `${k} ${now}`).join(' and ')}: it would not go on with the samples where that run stopped; ` +
          'resume with the same settings, or give another --output_dir to start afresh',
      );
    }
    for (const t of tensors) {
      for (const [name, ptr] of [
        [t.name, t.ptr],
        [`adam_m.${t.name}`, t.m],
        [`adam_v.${t.name}`, t.v],
      ] as const) {
        const info = f.tensors.get(name);
        if (!info) throw new Error(`${path}: no tensor ${name}; this checkpoint belongs to another model or mode`);
        if (info.shape.join(',') !== t.shape.join(','))
          throw new Error(`${path}: tensor ${name} has shape [${info.shape}], the model expects [${t.shape}]`);
        core.arena.f32(ptr, t.n).set(f.readF32(name));
      }
    }
    return pos;
  } finally {
    f.close();
  }
}
