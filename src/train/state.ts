/**
 * Training checkpoints: the trainable tensors with their AdamW moments and the counters to
 * resume from, one safetensors file per save under output/checkpoint/rank_<r>/, named
 * `<prefix>_rank_<r>-<epoch>_<step>.safetensors` (SPEC.md §8), at most keep_checkpoint_max
 * kept, and meta.json naming the last one. Every file is written under a temporary name and
 * renamed, so a killed run never leaves a checkpoint that looks complete and is not.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Core } from '../runtime/core.ts';
import { SafetensorsFile, writeSafetensors, type TensorToWrite } from '../checkpoint/safetensors.ts';
import type { Trainable } from '../model/weights.ts';

/** Where a run stands: enough to continue it exactly. */
export interface TrainPosition {
  /** 1-based epoch of the last finished step */
  epoch: number;
  /** 1-based step within that epoch */
  stepInEpoch: number;
  /** optimizer steps done in the whole run */
  globalStep: number;
}

/** meta.json of a checkpoint folder. */
export interface CheckpointMeta {
  last_epoch: number;
  last_step: number;
  last_ckpt_file: string;
  global_step: number;
}

/** The folder of rank r's checkpoints. */
export function checkpointDir(outputDir: string, rank: number): string {
  return join(outputDir, 'checkpoint', `rank_${rank}`);
}

function writeJsonAtomic(path: string, value: unknown): void {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n');
  renameSync(tmp, path);
}

/** Saves the tensors and their moments at `pos`, prunes old files, updates meta.json; returns the file name. */
export function saveTrainingCheckpoint(core: Core, tensors: readonly Trainable[], dir: string, prefix: string, rank: number, pos: TrainPosition, keepMax: number): string {
  mkdirSync(dir, { recursive: true });
  const file = `${prefix}_rank_${rank}-${pos.epoch}_${pos.stepInEpoch}.safetensors`;
  const out: TensorToWrite[] = [];
  const copy = (ptr: number, n: number) => Float32Array.from(core.arena.f32(ptr, n));
  for (const t of tensors) {
    out.push({ name: t.name, dtype: 'F32', shape: t.shape, data: copy(t.ptr, t.n) });
    out.push({ name: `adam_m.${t.name}`, dtype: 'F32', shape: t.shape, data: copy(t.m, t.n) });
    out.push({ name: `adam_v.${t.name}`, dtype: 'F32', shape: t.shape, data: copy(t.v, t.n) });
  }
  writeSafetensors(join(dir, file), out, { epoch: String(pos.epoch), step: String(pos.stepInEpoch), global_step: String(pos.globalStep), format: 'wasmformers-train' });
  const meta: CheckpointMeta = { last_epoch: pos.epoch, last_step: pos.stepInEpoch, last_ckpt_file: file, global_step: pos.globalStep };
  writeJsonAtomic(join(dir, 'meta.json'), meta);
  pruneCheckpoints(dir, prefix, rank, keepMax, file);
  return file;
}

/** Deletes all but the newest keepMax checkpoints of this prefix and rank (never `keep`). */
function pruneCheckpoints(dir: string, prefix: string, rank: number, keepMax: number, keep: string): void {
  const re = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}_rank_${rank}-(\\d+)_(\\d+)\\.safetensors$`);
  const files = readdirSync(dir).map((f) => ({ f, m: re.exec(f) })).filter((x) => x.m)
    .map(({ f, m }) => ({ f, epoch: Number(m![1]), step: Number(m![2]) }))
    .sort((a, b) => a.epoch - b.epoch || a.step - b.step);
  for (const old of files.slice(0, Math.max(0, files.length - keepMax))) if (old.f !== keep) rmSync(join(dir, old.f), { force: true });
}

/** The checkpoint to resume from: `resume` true → meta.json's last file, a string → that file (in dir or as a path). */
export function findResumeCheckpoint(dir: string, resume: true | string): string {
  if (typeof resume === 'string') {
    const p = existsSync(resume) ? resume : join(dir, resume);
    if (!existsSync(p)) throw new Error(`--resume_training ${resume}: no such checkpoint (looked in ${dir})`);
    return p;
  }
  const metaPath = join(dir, 'meta.json');
  if (!existsSync(metaPath)) throw new Error(`--resume_training: ${metaPath} is missing: no checkpoint to resume from`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(readFileSync(metaPath, 'utf8'));
  } catch {
    throw new Error(`${metaPath}: not valid JSON`);
  }
  const p = join(dir, meta.last_ckpt_file);
  if (!existsSync(p)) throw new Error(`${metaPath}: names ${meta.last_ckpt_file}, which is missing`);
  return p;
}

/** Restores tensors and moments from a checkpoint file; returns where the run stood. */
export function loadTrainingCheckpoint(core: Core, tensors: readonly Trainable[], path: string): TrainPosition {
  const f = SafetensorsFile.open(path);
  try {
    for (const t of tensors) {
      for (const [name, ptr] of [[t.name, t.ptr], [`adam_m.${t.name}`, t.m], [`adam_v.${t.name}`, t.v]] as const) {
        const info = f.tensors.get(name);
        if (!info) throw new Error(`${path}: no tensor ${name}; this checkpoint belongs to another model or mode`);
        if (info.shape.join(',') !== t.shape.join(',')) throw new Error(`${path}: tensor ${name} has shape [${info.shape}], the model expects [${t.shape}]`);
        core.arena.f32(ptr, t.n).set(f.readF32(name));
      }
    }
    const m = f.metadata;
    const pos = { epoch: Number(m.epoch), stepInEpoch: Number(m.step), globalStep: Number(m.global_step) };
    if (![pos.epoch, pos.stepInEpoch, pos.globalStep].every(Number.isInteger)) throw new Error(`${path}: no training position in its metadata`);
    return pos;
  } finally {
    f.close();
  }
}
