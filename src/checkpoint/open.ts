/**
 * Opening whatever a user passes as a checkpoint: a safetensors file, a MindSpore `.ckpt`, a GGUF file, a
 * Hugging Face folder (`model.safetensors` or a sharded `model.safetensors.index.json`), a
 * folder holding `.ckpt` files (the newest is used), or MindFormers' `rank_0/ … rank_N/` folders
 * of model-parallel slices (joined back into whole tensors). Names are then mapped to one layout
 * (Hugging Face's inside wasmformers), with Meta's RoPE row order undone where needed.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { configFromHF, ffnDimFor, validateConfig, type LlamaConfig } from '../model/config.ts';
import { CkptFile } from './ckpt.ts';
import { GgufFile } from './gguf/file.ts';
import { detectLayout } from './names.ts';
import { SafetensorsFile } from './safetensors.ts';
import { inferModelParallel, joinSlices } from './slicing.ts';
import { ViewStore, type DerivedTensor, type TensorStore } from './store.ts';

export { relayout } from './relayout.ts';

/** Opens a checkpoint file or folder with its tensors named as stored; errors name the path. */
export function openTensors(path: string): TensorStore {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  return statSync(path).isDirectory() ? openFolder(path) : openFile(path);
}

function openFile(path: string): TensorStore {
  if (path.endsWith('.ckpt')) return CkptFile.open(path);
  if (path.endsWith('.gguf')) return GgufFile.open(path);
  if (path.endsWith('.index.json')) return openSharded(path);
  return SafetensorsFile.open(path);
}

/** The rank_<i> folders under `dir` (0..n-1, none missing), or [] when there are none. */
export function rankFolders(dir: string): string[] {
  const ids = readdirSync(dir)
    .map((f) => /^rank_(\d+)$/.exec(f))
    .filter((m) => m && statSync(join(dir, m[0])).isDirectory())
    .map((m) => Number(m![1]))
    .sort((a, b) => a - b);
  ids.forEach((id, i) => {
    if (id !== i) throw new Error(`${dir}: the rank_${i} folder is missing`);
  });
  return ids.map((i) => join(dir, `rank_${i}`));
}

/** The newest file with one of `extensions` in `dir` (by modification time, then name). */
function newestFile(dir: string, extension: string): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith(extension) && statSync(join(dir, f)).isFile());
  files.sort((a, b) => statSync(join(dir, a)).mtimeMs - statSync(join(dir, b)).mtimeMs || (a < b ? -1 : 1));
  return files.length ? join(dir, files[files.length - 1]) : undefined;
}

function openFolder(dir: string): TensorStore {
  const ranks = rankFolders(dir);
  if (ranks.length) return openRanks(dir, ranks);
  for (const name of ['model.safetensors.index.json', 'model.safetensors'])
    if (existsSync(join(dir, name))) return openFile(join(dir, name));
  const file = newestFile(dir, '.ckpt') ?? newestFile(dir, '.safetensors') ?? newestFile(dir, '.gguf');
  if (!file)
    throw new Error(
      `${dir}: no checkpoint in this folder (model.safetensors, model.safetensors.index.json, a .ckpt, .safetensors or .gguf file, or rank_0/)`,
    );
  return openFile(file);
}

/** Joins the model-parallel slices of rank folders (ranks beyond the first slice set are data-parallel copies). */
function openRanks(dir: string, ranks: string[]): TensorStore {
  const opened: TensorStore[] = [openFolder(ranks[0])];
  try {
    const layout = detectLayout(opened[0].tensors.keys());
    const mp = inferModelParallel(opened[0], layout);
    if (ranks.length % mp !== 0)
      throw new Error(`${dir}: ${ranks.length} rank folders do not divide into model-parallel groups of ${mp}`);
    for (let r = 1; r < mp; r++) opened.push(openFolder(ranks[r]));
    return joinSlices(dir, opened, layout, opened);
  } catch (err) {
    for (const s of opened) s.close();
    throw err;
  }
}

/** A sharded Hugging Face checkpoint: `model.safetensors.index.json` and the files it names. */
function openSharded(indexPath: string): TensorStore {
  let index: { weight_map?: unknown };
  try {
    index = JSON.parse(readFileSync(indexPath, 'utf8'));
  } catch (err) {
    throw new Error(`${indexPath}: not valid JSON (${(err as Error).message})`);
  }
  const map = index?.weight_map;
  if (map === null || typeof map !== 'object' || Array.isArray(map))
    throw new Error(`${indexPath}: missing key weight_map`);
  const entries = Object.entries(map as Record<string, unknown>);
  const files = [
    ...new Set(
      entries.map(([name, file]) => {
        if (typeof file !== 'string' || file !== basename(file) || file === '..' || file === '')
          throw new Error(
            `${indexPath}: tensor ${name} maps to ${JSON.stringify(file)}, not a file name in the folder`,
          );
        return file;
      }),
    ),
  ].sort();
  const shards = new Map<string, SafetensorsFile>();
  try {
    for (const f of files) shards.set(f, SafetensorsFile.open(join(dirname(indexPath), f)));
    const derived = new Map<string, DerivedTensor>();
    for (const [f, shard] of shards) {
      for (const [name, info] of shard.tensors)
        if ((map as Record<string, string>)[name] === f)
          derived.set(name, { info, parts: [{ store: shard, name }], make: ([b]) => b });
    }
    for (const [name, file] of entries)
      if (!derived.has(name))
        throw new Error(`${indexPath}: tensor ${name} is mapped to ${file}, which has no such tensor`);
    return new ViewStore(indexPath, derived, [...shards.values()]);
  } catch (err) {
    for (const s of shards.values()) s.close();
    throw err;
  }
}

/** A Meta `params.json` as a config; the vocabulary may come from the embedding when it says -1. */
export function configFromMeta(raw: Record<string, unknown>, where: string, embeddingRows?: number): LlamaConfig {
  const num = (k: string, fallback?: number): number => {
    const v = raw[k] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v))
      throw new Error(`${where}: ${k} must be a number, got ${JSON.stringify(raw[k])}`);
    return v;
  };
  const dim = num('dim'),
    nHeads = num('n_heads');
  let vocabSize = num('vocab_size', -1);
  if (vocabSize <= 0) {
    if (!embeddingRows)
      throw new Error(`${where}: vocab_size is ${vocabSize} and there is no embedding to take it from`);
    vocabSize = embeddingRows;
  }
  return validateConfig(
    {
      dim,
      nLayers: num('n_layers'),
      nHeads,
      nKvHeads: num('n_kv_heads', nHeads),
      vocabSize,
      ffnDim: ffnDimFor(dim, num('multiple_of', 256), raw.ffn_dim_multiplier as number | null | undefined),
      normEps: num('norm_eps', 1e-5),
      ropeTheta: num('rope_theta', 10000),
      tieEmbeddings: false,
      maxSeqLen: num('max_seq_len', 2048),
      bosId: 1,
      eosId: 2,
      padId: 0,
    },
    where,
  );
}

/**
 * The config that goes with a checkpoint path: a GGUF file's own metadata, else `config.json` (Hugging Face) or `params.json`
 * (Meta) in its folder, or the folder above a rank_<i>/ folder. Undefined when neither.
 */
export function findConfig(path: string, store?: TensorStore): LlamaConfig | undefined {
  if (store instanceof GgufFile) return store.config;
  const dir = existsSync(path) && statSync(path).isDirectory() ? path : dirname(path);
  for (const d of /^rank_\d+$/.test(basename(dir)) ? [dir, dirname(dir)] : [dir]) {
    for (const file of ['config.json', 'params.json']) {
      const p = join(d, file);
      if (!existsSync(p)) continue;
      let raw: Record<string, unknown>;
      try {
        raw = JSON.parse(readFileSync(p, 'utf8'));
      } catch (err) {
        throw new Error(`${p}: not valid JSON (${(err as Error).message})`);
      }
      if (file === 'config.json') return configFromHF(raw, p);
      return configFromMeta(raw, p, store?.tensors.get('tok_embeddings.weight')?.shape[0]);
    }
  }
  return undefined;
}
