/**
 * What a run_mindformer run sets up before its mode runs: the rank's place in an msrun_launcher
 * job, the core, the model (from a checkpoint, a PEFT adapter folder with its base, or random;
 * in a job, built once and shared), and the rank's logs.
 */
import { appendFileSync, existsSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { RunConfig } from '../config/types.ts';
import { makeFolders } from '../io/atomic.ts';
import { loadCore, type Core, type CoreKind } from '../runtime/core.ts';
import { isShared } from '../runtime/host.ts';
import { defaultThreads, spawnWorkerThread } from '../runtime/threads.ts';
import { WeightType } from '../runtime/kernels.ts';
import { formatLoadReport, loadModel, storedWeightTypesAt, type LoadReport } from '../checkpoint/load.ts';
import { adapterBaseModel } from '../checkpoint/peft.ts';
import { configFromMindFormers, type LlamaConfig } from '../model/config.ts';
import { LlamaModel, type ModelOptions } from '../model/llama.ts';
import { weightStorage } from '../model/weight_dtype.ts';
import { loraFromPetConfig, type LoraConfig } from '../model/lora.ts';
import { placeWeights, type Placement } from '../model/placement.ts';
import { rankShare, type ModelShare } from '../model/sharding.ts';
import { blockFallbackNote, type BaseLayout, type HostLayers } from '../model/weights.ts';
import { receiveShared, shareWithRanks } from '../parallel/share.ts';
import { Collective, type Collectives } from '../parallel/collective.ts';
import { currentJob, type Job } from '../parallel/job.ts';

/** The rank's log: every line to the console (rank 0) and to output/log/rank_<r>/info.log. */
export function rankLogger(c: RunConfig, rank: number, toConsole: boolean): (line: string) => void {
  const file = join(rankLogDir(c, rank), 'info.log');
  return (line) => {
    if (toConsole) console.log(line);
    appendFileSync(file, line + '\n');
  };
}

/** Appends a failure's line to output/log/rank_<r>/error.log. */
export function logError(c: RunConfig, rank: number, message: string): void {
  appendFileSync(join(rankLogDir(c, rank), 'error.log'), message + '\n');
}

/** output/log/rank_<r>, made if missing. */
function rankLogDir(c: RunConfig, rank: number): string {
  const dir = join(c.output_dir, 'log', `rank_${rank}`);
  makeFolders(dir);
  return dir;
}

/**
 * A rank of an msrun_launcher job: the job, its collectives, and its place in the data and
 * model parallelism (rank = data-parallel index × model_parallel + model-parallel index).
 */
export interface RankContext {
  job: Job;
  collective: Collective;
  /** data-parallel rank and count (which records it reads), and its data-parallel group when there are several */
  dataRank: number;
  dataRanks: number;
  dataGroup?: Collectives;
  /** its share of the model and its model-parallel group under model parallelism */
  share?: ModelShare;
  modelGroup?: Collectives;
}

/**
 * The job this run is a rank of, checked against the config: `use_parallel` and
 * data_parallel × model_parallel must match the ranks msrun_launcher started; a run outside the
 * launcher is one rank.
 */
export function rankContext(c: RunConfig): RankContext | undefined {
  const job = currentJob(),
    dp = c.parallel_config.data_parallel,
    mp = c.parallel_config.model_parallel;
  const ranks = job?.ranks ?? 1;
  if (job && !c.use_parallel) {
    throw new Error(
      `msrun_launcher started ${ranks} ranks but use_parallel is False (each rank would repeat the whole run): give --use_parallel True`,
    );
  }
  if (!c.use_parallel) return undefined;
  if (dp * mp !== ranks) {
    throw new Error(
      `parallel_config.data_parallel ${dp} × model_parallel ${mp} = ${dp * mp} ranks, but ${job ? `msrun_launcher started ${ranks}` : 'this process is one rank (start it with msrun_launcher "..." ' + dp * mp + ')'}`,
    );
  }
  if (!job) return undefined;
  const collective = new Collective(job),
    dataRank = Math.floor(job.rank / mp),
    index = job.rank % mp;
  const range = (n: number, at: (i: number) => number) => Array.from({ length: n }, (_, i) => at(i));
  return {
    job,
    collective,
    dataRank,
    dataRanks: dp,
    dataGroup: dp > 1 ? collective.group(range(dp, (i) => i * mp + index)) : undefined,
    share: mp > 1 ? { parts: mp, index } : undefined,
    modelGroup: mp > 1 ? collective.group(range(mp, (i) => dataRank * mp + i)) : undefined,
  };
}

/**
 * Loads the compute core the config asks for (device_target auto, relaxed or simd) on `threads`
 * threads (0: the machine's cores shared out among the job's ranks), over the job's memory for a rank.
 */
export function coreFor(c: RunConfig, rank?: RankContext): Promise<Core> {
  const kind = c.device_target === 'relaxed' || c.device_target === 'simd' ? (c.device_target as CoreKind) : 'auto';
  const threads = c.threads || defaultThreads(rank?.job.ranks);
  return loadCore({ kind, memory: rank?.job.memory, threads, spawnThread: spawnWorkerThread });
}

/**
 * The model for a run: `train` trains every parameter (f32); `finetune` adds the config's LoRA
 * to frozen base weights; eval and predict run frozen weights. `load_checkpoint` may be a model
 * (folder or file) or a PEFT adapter folder whose base_model_name_or_path names its base.
 */
export async function buildModel(
  core: Core,
  c: RunConfig,
  log: (line: string) => void,
  rank?: RankContext,
): Promise<LlamaModel> {
  if (!rank) return buildOwnModel(core, c, log, 1, 1);
  // The ranks that hold the same weights: all of them, or (model parallelism) the data-parallel
  // replicas of one slice. The first builds the model (it holds the frozen base: one per slice);
  // the others use its base where it lies in the shared memory and start from copies of its
  // trainable tensors.
  const holders = rank.share?.parts ?? 1,
    group = rank.share ? rank.dataGroup : rank.collective;
  if (!group) return buildOwnModel(core, c, log, rank.job.ranks, holders, rank.share);
  const key = rank.share ? `slice ${rank.share.index}` : 'base';
  if (group.rank === 0) {
    const model = await buildOwnModel(core, c, log, rank.job.ranks, holders, rank.share);
    const w = model.weights,
      base = model.options.mode === 'train' ? undefined : w.baseLayout();
    if (w.hostLayers) shareWithRanks(key, w.hostLayers); // SharedArrayBuffers do not travel as JSON
    group.allGather<SharedModel | null>({
      config: model.config,
      options: model.options,
      base: base && { ...base, hostLayers: undefined },
      trainable: w.trainable.map((t) => t.ptr),
    });
    return model;
  }
  const shared = group.allGather<SharedModel | null>(null)[0]!;
  const base = shared.base && {
    ...shared.base,
    hostLayers: shared.options.streamLayers ? receiveShared<HostLayers>(key, rank.job.timeoutMs) : undefined,
  };
  const options: ModelOptions = {
    ...shared.options,
    sharedBase: base,
    seed: (shared.options.seed ?? 0) + rank.dataRank,
  };
  const model = new LlamaModel(core, shared.config, options);
  model.weights.trainable.forEach((t, i) => core.arena.f32(t.ptr, t.n).set(core.arena.f32(shared.trainable[i], t.n)));
  return model;
}

/** What the rank that built the model tells the others that hold the same weights. */
interface SharedModel {
  config: LlamaConfig;
  options: ModelOptions;
  base?: BaseLayout;
  /** offsets of rank 0's trainable tensors (their initial values) */
  trainable: number[];
}

/**
 * The model of a run built in this core alone (see buildModel), its weights placed for a job of
 * `ranks` ranks of which `holders` hold a frozen base.
 */
async function buildOwnModel(
  core: Core,
  c: RunConfig,
  log: (line: string) => void,
  ranks: number,
  holders: number,
  share?: ModelShare,
): Promise<LlamaModel> {
  const run = runModel(c, share),
    { config, ownConfig, adapterDir, options } = run;
  const placement = placeRun(c, run, ranks, holders, isShared(core.arena.memory), core.threads);
  options.streamLayers = placement.streamLayers;
  const path = c.load_checkpoint;
  log(placement.summary);
  const fallback = blockFallbackNote(ownConfig, options);
  if (fallback) log(fallback);
  const report = (r: LoadReport) => {
    const s = formatLoadReport(r);
    if (s) log(s);
  };
  if (adapterDir)
    return loadModel(core, adapterBaseModel(adapterDir), options, { config, adapter: adapterDir, report, share });
  let model: LlamaModel;
  if (path) {
    model = await loadModel(core, path, options, { config, report, share });
  } else {
    if (c.run_mode !== 'train')
      log(`warning: no --load_checkpoint: the model starts from random weights (seed ${c.seed})`);
    model = new LlamaModel(core, ownConfig, options, share);
    model.weights.initRandom(c.seed, c.model.model_config.initializer_range, share);
  }
  return model;
}

/** What runModel says about a run's model. */
interface RunModel {
  config: LlamaConfig;
  ownConfig: LlamaConfig;
  lora?: LoraConfig;
  adapterDir?: string;
  options: ModelOptions;
}

/** The PEFT adapter folder that --load_checkpoint names, if it names one (a folder with adapter_config.json). */
function adapterFolder(c: RunConfig): string | undefined {
  const path = c.load_checkpoint;
  return path && existsSync(join(path, 'adapter_config.json')) ? path : undefined;
}

/** The base model a run loads: --load_checkpoint, or the base of the adapter folder it names; undefined without one. */
export function baseCheckpoint(c: RunConfig): string | undefined {
  const adapterDir = adapterFolder(c);
  return adapterDir ? adapterBaseModel(adapterDir) : c.load_checkpoint || undefined;
}

/**
 * The model a run builds: its config and this rank's share of it, the config's LoRA (finetune),
 * the PEFT adapter folder that --load_checkpoint names (whose own LoRA is used), and the options.
 */
function runModel(c: RunConfig, share?: ModelShare): RunModel {
  const where = 'model.model_config';
  const config: LlamaConfig = configFromMindFormers(c.model.model_config, where);
  const ownConfig = share ? rankShare(config, share.parts, where) : config;
  const storage = weightStorage(c.model.model_config.param_init_type, `${where}.param_init_type`);
  const training = c.run_mode === 'train' || c.run_mode === 'finetune';
  const lora =
    c.run_mode === 'finetune' ? loraFromPetConfig(c.model.model_config.pet_config, `${where}.pet_config`) : undefined;
  if (c.run_mode === 'finetune' && !lora)
    throw new Error(`--run_mode finetune needs model.model_config.pet_config (LoRA)`);
  const adapterDir = adapterFolder(c),
    base = baseCheckpoint(c);
  if (storage.asStored && c.run_mode !== 'train' && !base)
    throw new Error(`${where}.param_init_type stored keeps the checkpoint's own types: it needs --load_checkpoint`);
  // The types are read from the checkpoint's header now: the memory plan needs them before it loads.
  const options: ModelOptions = {
    mode: c.run_mode === 'train' ? 'train' : 'finetune',
    ...(c.run_mode === 'train'
      ? { weightType: WeightType.F32 }
      : storage.asStored
        ? storedWeightTypesAt(base!, config)
        : storage),
    lora: adapterDir ? undefined : lora,
    recompute: c.recompute_config.recompute && training,
    seed: c.seed,
    activations: c.activations,
  };
  return { config, ownConfig, lora, adapterDir, options };
}

/** Where a run's weights go in a job of `ranks` ranks of which `holders` hold a frozen base (`shared`: in one memory); throws naming what would fit. */
function placeRun(
  c: RunConfig,
  { config, ownConfig, options, lora }: RunModel,
  ranks: number,
  holders: number,
  shared: boolean,
  threads: number,
): Placement {
  return placeWeights({
    config: ownConfig,
    options: { ...options, lora: options.lora ?? lora },
    ranks,
    baseHolders: holders,
    stream: c.stream_layers,
    machineBytes: totalmem(),
    shared,
    threads,
    B: c.run_mode === 'predict' ? 1 : c.run_mode === 'eval' ? c.eval_dataset.batch_size : c.runner_config.batch_size,
    S: config.maxSeqLen,
  });
}

/**
 * Checks that a job of `ranks` ranks running `c` fits the one memory the ranks share and the
 * machine, as each model-building rank will (see buildModel), before any rank starts; throws
 * naming how many ranks would fit.
 */
export function checkJobFits(c: RunConfig, ranks: number): void {
  const mp = c.parallel_config.model_parallel,
    share = mp > 1 ? { parts: mp, index: 0 } : undefined;
  placeRun(c, runModel(c, share), ranks, mp, true, c.threads || defaultThreads(ranks));
}
