/**
 * `wasmformers run_mindformer --config C --run_mode train|finetune|eval|predict ...`: the seed's
 * main command (SPEC.md §6). train and finetune run the trainer and write checkpoints, the PEFT
 * adapter (finetune) and output/report.html; eval prints loss and perplexity over a dataset;
 * predict generates from --predict_data prompts (with --chat True, each rendered as a user message
 * through the tokenizer's chat template), streaming the text. Every mode first claims its
 * output_dir (src/train/output_dir.ts): one run at a time, and a failure is logged there only
 * once the run holds it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadRunConfig } from '../config/load.ts';
import { configSummary } from '../config/describe.ts';
import type { RunConfig } from '../config/types.ts';
import { replaceFolder } from '../io/atomic.ts';
import { ShardDataset } from '../data/shard_reader.ts';
import { saveAdapter } from '../checkpoint/peft.ts';
import { generate } from '../generate/generate.ts';
import type { LlamaModel } from '../model/llama.ts';
import { formatPlan, memoryPlan } from '../model/plan.ts';
import { chatPromptIds, endOfTurnId } from '../tokenizer/chat_template.ts';
import { loadChatTemplate, loadTokenizer } from '../tokenizer/load.ts';
import { writeReport, type ReportPoint } from '../train/report.ts';
import {
  baseCheckpoint,
  buildModel,
  checkJobFits,
  coreFor,
  logError,
  rankContext,
  rankLogger,
  type RankContext,
} from '../train/session.ts';
import { DataParallel } from '../parallel/data_parallel.ts';
import { ModelParallel, type WholeTensor } from '../parallel/model_parallel.ts';
import type { Core } from '../runtime/core.ts';
import { currentJob } from '../parallel/job.ts';
import { claimOutputDir } from '../train/output_dir.ts';
import { runCheckpoints } from '../train/run_checkpoints.ts';
import { train } from '../train/trainer.ts';
import { faultsFromEnv } from './fault.ts';
import { exitOnSignals } from './signals.ts';

/** The run configuration of the command's arguments (`--config` and the overrides); `notice` as loadRunConfig's. */
function readRunConfig(argv: string[], notice?: (line: string) => void): RunConfig {
  const at = argv.indexOf('--config');
  const configPath = at >= 0 ? argv[at + 1] : undefined;
  if (at >= 0 && (configPath === undefined || configPath.startsWith('--'))) throw new Error('--config needs a value');
  const rest = at >= 0 ? [...argv.slice(0, at), ...argv.slice(at + 2)] : argv;
  return loadRunConfig(configPath, rest, notice);
}

/**
 * Checks a job of `ranks` msrun_launcher ranks running the command with `argv` before any rank
 * starts: its config loads, and when its parallel settings match the ranks, their memory plans fit
 * the one memory they share (the error says how many ranks would). Other mismatches are left to
 * the ranks, which name them.
 */
export function checkJob(argv: string[], ranks: number): void {
  const cfg = readRunConfig(argv, () => {});
  const { data_parallel: dp, model_parallel: mp } = cfg.parallel_config;
  if (cfg.use_parallel && dp * mp === ranks) checkJobFits(cfg, ranks);
}

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const cfg = readRunConfig(argv);
  let release: (() => void) | undefined;
  try {
    const rank = rankContext(cfg);
    release = claimOutputDir(cfg, rank);
    switch (cfg.run_mode) {
      case 'train':
      case 'finetune':
        return await runTraining(cfg, rank);
      case 'eval':
        return await runEval(cfg, rank);
      case 'predict':
        return await runPredict(cfg, rank);
      default:
        throw new Error(`unknown run_mode ${JSON.stringify(cfg.run_mode)}`);
    }
  } catch (err) {
    if (release) logError(cfg, currentJob()?.rank ?? 0, `run_mindformer: ${(err as Error).message}`);
    throw err;
  } finally {
    release?.();
  }
}

/** Opens the dataset a block names (its shards verified, its ids checked against the model's vocabulary as read), with an error that says which flag sets it. */
function openDataset(dir: string, flag: string, vocabSize: number): ShardDataset {
  if (!dir) throw new Error(`no dataset: give ${flag} (a folder written by llama_preprocess)`);
  if (!existsSync(dir)) throw new Error(`${dir}: no such dataset folder (${flag})`);
  const data = ShardDataset.open(dir, { vocabSize });
  data.checkTrainable();
  return data;
}

/**
 * The log, the dataset (opened first, so that a wrong folder fails fast), the core and the model
 * of a run. In a job every rank logs to its console, which is its worker log.
 */
async function setUp(cfg: RunConfig, rank: RankContext | undefined, datasetDir: string, flag: string) {
  const log = rankLogger(cfg, rank?.job.rank ?? 0, true);
  const data = openDataset(datasetDir, flag, cfg.model.model_config.vocab_size);
  const core = await coreFor(cfg, rank);
  const coreBytes = core.arena.used;
  const model = await buildModel(core, cfg, log, rank);
  return { log, data, core, coreBytes, model };
}

async function runTraining(cfg: RunConfig, rank: RankContext | undefined): Promise<number> {
  const { log, data, core, coreBytes, model } = await setUp(
    cfg,
    rank,
    cfg.train_dataset.data_loader.dataset_dir,
    '--train_dataset_dir',
  );
  const r = rank?.job.rank ?? 0;
  const B = cfg.runner_config.batch_size,
    S = data.index.seq_length;
  log(configSummary(cfg));
  log(
    `memory plan for batch ${B} × seq ${S} on the ${core.kind} core:\n${formatPlan(memoryPlan(model.config, model.options, B, S, coreBytes))}`,
  );
  if (model.options.sharedBase) log(`base weights: rank ${rank!.share?.index ?? 0}'s, in the memory the ranks share`);
  model.reserve(B, S);
  const mp = modelParallelFor(rank, core, model, B * S);
  const reportPath = join(cfg.output_dir, 'report.html'),
    points: ReportPoint[] = [];
  const title = `wasmformers ${cfg.run_mode}: ${data.dir}`;
  let lastReport = 0;
  // Rank 0 writes the report and the adapter (under model parallelism, joined from every rank's slices).
  const report = (status: string) =>
    r === 0 && writeReport(reportPath, { title, points, evals: [], settings: configSummary(cfg), status });
  exitOnSignals(); // Ctrl-C and SIGTERM stop the run at the end of a step or during a checkpoint write, removing its temporary
  try {
    const faults = faultsFromEnv(r);
    const result = await train({
      config: cfg,
      model,
      data,
      dataRank: rank?.dataRank,
      dataRanks: rank?.dataRanks,
      log,
      checkpoints: runCheckpoints({ config: cfg, rank: r, job: rank?.collective, faults, log }),
      parallel: rank?.dataGroup && DataParallel.create(rank.dataGroup, core, model.weights.trainable),
      modelParallel: mp,
      faults,
      onStep: (p) => {
        points.push(p);
        if (performance.now() - lastReport > 2000) {
          report('running');
          lastReport = performance.now();
        }
      },
    });
    report('finished');
    const whole = cfg.run_mode === 'finetune' ? mp?.wholeLora(model.weights) : undefined;
    if (cfg.run_mode === 'finetune' && r === 0) await saveFinalAdapter(cfg, model, log, whole);
    const final = result.losses.at(-1);
    log(
      `Training finished: ${result.globalSteps} steps${final === undefined ? '' : `, final loss ${final}`}${result.lastCheckpoint ? `, last checkpoint ${result.lastCheckpoint}` : ''}; report: ${reportPath}`,
    );
    return 0;
  } catch (err) {
    report(`stopped: ${(err as Error).message}`);
    throw err;
  } finally {
    data.close();
  }
}

/** A model-parallel rank's sums, set up for activations of `rows` rows (a collective), and attached to the model. */
function modelParallelFor(
  rank: RankContext | undefined,
  core: Core,
  model: LlamaModel,
  rows: number,
): ModelParallel | undefined {
  if (!rank?.modelGroup) return undefined;
  const mp = new ModelParallel(rank.modelGroup, core, model.weights.trainable, rows * model.config.dim);
  model.modelParallel = mp;
  return mp;
}

/**
 * Writes the adapter in PEFT layout to <output_dir>/adapter (`whole`: a model-parallel job's
 * factors, joined), replacing the previous one only once the new one is complete.
 */
async function saveFinalAdapter(
  cfg: RunConfig,
  model: LlamaModel,
  log: (line: string) => void,
  whole?: WholeTensor[],
): Promise<void> {
  const dir = join(cfg.output_dir, 'adapter');
  const tensors = whole?.map((t) => ({
    name: t.name,
    info: { dtype: 'F32' as const, shape: t.shape },
    bytes: () => new Uint8Array(t.values.buffer),
  }));
  await replaceFolder(dir, (fresh) => saveAdapter(fresh, model.weights, cfg.load_checkpoint || null, tensors));
  log(`LoRA adapter saved in PEFT layout: ${dir}`);
}

/**
 * Where a rank's share of eval batches or predict prompts starts and its stride: data-parallel
 * replicas deal them out; under model parallelism every replica takes all of them, since its
 * ranks sum activations in step with every other rank of the job.
 */
function dealt(rank: RankContext | undefined): { r: number; ranks: number; shared: boolean } {
  const shared = !!rank?.dataGroup && !rank.modelGroup;
  return shared ? { r: rank!.dataRank, ranks: rank!.dataRanks, shared } : { r: 0, ranks: 1, shared };
}

/** Loss and perplexity over the dataset; data-parallel ranks take every ranks-th batch and share the sums. */
async function runEval(cfg: RunConfig, rank: RankContext | undefined): Promise<number> {
  const { log, data, core, model } = await setUp(
    cfg,
    rank,
    cfg.eval_dataset.data_loader.dataset_dir,
    '--eval_dataset_dir',
  );
  const { r, ranks, shared } = dealt(rank);
  const B = cfg.eval_dataset.batch_size,
    S = data.index.seq_length;
  if (S > model.config.maxSeqLen)
    throw new Error(`${data.dir}: seq_length ${S} is larger than the model's seq_length ${model.config.maxSeqLen}`);
  modelParallelFor(rank, core, model, B * S);
  const n = cfg.num_samples > 0 ? Math.min(cfg.num_samples, data.length) : data.length;
  const hasLabels = 'labels' in data.index.columns;
  let weighted = 0,
    tokens = 0;
  try {
    for (let r0 = r * B; r0 < n; r0 += B * ranks) {
      const b = Math.min(B, n - r0);
      const ids = new Int32Array(b * (S + 1)),
        labels = hasLabels ? new Int32Array(b * (S + 1)) : null;
      for (let i = 0; i < b; i++) {
        const rec = data.record(r0 + i);
        ids.set(rec.input_ids, i * (S + 1));
        labels?.set(rec.labels, i * (S + 1));
      }
      const out = model.step(ids, labels, b, S, false);
      weighted += out.loss * out.tokens;
      tokens += out.tokens;
    }
  } finally {
    data.close();
  }
  if (shared) [weighted, tokens] = rank!.dataGroup!.sum([weighted, tokens]);
  if (tokens === 0)
    throw new Error(
      `${data.dir}: no position of the ${n} records evaluated counts in the loss (every label is masked: -100 or padding), so loss and perplexity are undefined`,
    );
  const loss = weighted / tokens;
  log(`Eval over ${n} records (${tokens} tokens): loss ${loss.toFixed(4)}, perplexity ${Math.exp(loss).toFixed(4)}`);
  log(`{'PerplexityMetric': {'loss': ${loss}, 'PPL': ${Math.exp(loss)}}}`);
  return 0;
}

/** predict's timing line for one prompt: the prompt's tokens and the time to the first new token, then the rate of the rest. */
function generationTimes(promptTokens: number, newTokens: number, firstMs: number, restMs: number): string {
  const rate =
    newTokens > 1 ? `, then ${newTokens - 1} at ${(((newTokens - 1) * 1000) / restMs).toFixed(2)} tokens/s` : '';
  return `generation: ${promptTokens} prompt tokens, the first new token after ${(firstMs / 1000).toFixed(2)} s${rate}`;
}

/** Generates from each prompt; data-parallel ranks take every ranks-th prompt (see dealt). */
async function runPredict(cfg: RunConfig, rank: RankContext | undefined): Promise<number> {
  if (cfg.predict_data.length === 0) throw new Error('--run_mode predict needs --predict_data (one or more prompts)');
  const log = rankLogger(cfg, rank?.job.rank ?? 0, false);
  // the YAML's vocab_file, else a GGUF base's own tokenizer (through an adapter folder too), else the bundled Llama 2 one
  const base = cfg.processor.tokenizer.vocab_file ? undefined : baseCheckpoint(cfg);
  const loaded = await loadTokenizer(
    cfg.processor.tokenizer.vocab_file || (base?.endsWith('.gguf') ? base : undefined),
  );
  const tok = loaded.tokenizer;
  // --chat: the template writes the special tokens (a BOS included, where it has one) and its end-of-turn token stops the answer
  const chat = cfg.chat ? await loadChatTemplate(loaded) : null;
  const stopIds = chat ? [endOfTurnId(chat, tok)] : [];
  const mc = cfg.model.model_config;
  // Every prompt is checked before the model loads (tokenizing 1 MB takes about 0.1 s).
  const prompts = cfg.predict_data.map((prompt, i) => {
    const ids = chat ? chatPromptIds(chat, tok, prompt) : tok.encode(prompt, { bos: true, eos: false });
    if (ids.length > mc.seq_length)
      throw new Error(
        `prompt ${i + 1} is ${ids.length} tokens, more than the model's seq_length ${mc.seq_length} (model.model_config.seq_length)`,
      );
    return ids;
  });
  const core = await coreFor(cfg, rank);
  const model = await buildModel(core, cfg, log, rank);
  modelParallelFor(rank, core, model, model.config.maxSeqLen);
  const { r, ranks } = dealt(rank);
  for (const ids of prompts.filter((_, i) => i % ranks === r)) {
    const maxNew = Math.max(1, Math.min(mc.max_decode_length, model.config.maxSeqLen) - ids.length);
    // Each new token is decoded with everything before it, and only the new text is printed.
    const out: number[] = [];
    let shown = tok.decode(ids, { skipSpecialTokens: true });
    process.stdout.write(shown);
    const t0 = performance.now();
    let tFirst = 0;
    const made = generate(model, ids, {
      maxNewTokens: maxNew,
      doSample: mc.do_sample,
      temperature: mc.temperature,
      topK: mc.top_k,
      topP: mc.top_p,
      repetitionPenalty: mc.repetition_penalty,
      seed: cfg.seed,
      stopIds,
      vocabLimit: tok.vocabSize,
      onToken: (id) => {
        tFirst ||= performance.now();
        if (id === model.config.eosId || stopIds.includes(id)) return;
        out.push(id);
        const text = tok.decode([...ids, ...out], { skipSpecialTokens: true });
        process.stdout.write(text.slice(shown.length));
        shown = text;
      },
    });
    process.stdout.write('\n');
    log(`{'text_generation_text': [${JSON.stringify(shown)}]}`);
    log(generationTimes(ids.length, made.length, tFirst - t0, performance.now() - tFirst));
  }
  return 0;
}
