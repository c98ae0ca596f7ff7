/**
 * The training loop of run_mindformer (train and finetune) and of the library's finetune: epochs
 * over a shard dataset or records in memory in the seeded order, per-rank batches, gradient
 * accumulation, global-norm clipping, AdamW with the configured schedule, the loss monitor line,
 * and checkpoints through the hooks it is given (checkpoints.ts: run_mindformer's files, exact
 * resumption). It imports no `node:` module, so it runs in browsers too.
 */
import type { RunConfig } from '../config/types.ts';
import { epochOrder } from '../data/sampler.ts';
import { stepFlops } from '../model/flops.ts';
import { countedTargets, type LlamaModel } from '../model/llama.ts';
import type { DataParallel } from '../parallel/data_parallel.ts';
import type { ModelParallel } from '../parallel/model_parallel.ts';
import type { Faults } from './faults.ts';
import type { TrainRecords } from './records.ts';
import { adamwStep, globalGradNorm, scaleGrads, type AdamWConfig } from './optimizer.ts';
import { formatStep } from './monitor.ts';
import type { ReportPoint } from './report.ts';
import { makeSchedule } from './schedule.ts';
import { START, type SampleSettings, type TrainCheckpoints, type TrainPosition } from './checkpoints.ts';

/** What the loop needs besides the config. */
export interface TrainerOptions {
  config: RunConfig;
  model: LlamaModel;
  /** a ShardDataset, or records in memory */
  data: TrainRecords;
  /** data-parallel ranks: each reads every dataRanks-th record from dataRank (default 0 of 1) */
  dataRank?: number;
  dataRanks?: number;
  /** writes one line to the console and the rank's info.log */
  log: (line: string) => void;
  /** where the run resumes from and how it saves (absent: from the start, saving nothing) */
  checkpoints?: TrainCheckpoints;
  /** sums over the data-parallel ranks (absent for one rank) */
  parallel?: DataParallel;
  /** sums over the model-parallel ranks (absent without model parallelism) */
  modelParallel?: ModelParallel;
  /** called after every step (the report, tests) */
  onStep?: (p: ReportPoint) => void;
  /** failures to inject inside a step (the launcher's and resume tests, through the CLI's WASMFORMERS_FAULT) */
  faults?: Faults;
  /** stops the run at the end of a step: train throws the signal's reason */
  signal?: AbortSignal;
}

/** How the run ended. */
export interface TrainResult {
  /** loss of every optimizer step run by this call */
  losses: number[];
  /** optimizer steps done in the whole run (resumed ones included) */
  globalSteps: number;
  /** the last checkpoint written, if any */
  lastCheckpoint?: string;
}

/** The optimizer block as AdamW settings: MindSpore's weight-decay Adam has no bias correction. */
function adamwFromConfig(o: RunConfig['optimizer']): AdamWConfig {
  return {
    lr: 0,
    beta1: o.beta1,
    beta2: o.beta2,
    eps: o.eps,
    weightDecay: o.weight_decay,
    biasCorrection: o.type === 'AdamW',
  };
}

/** Runs (or resumes) training; throws with one clear line on a non-finite loss or gradient. */
export async function train(o: TrainerOptions): Promise<TrainResult> {
  const c = o.config,
    model = o.model,
    core = model.core,
    w = model.weights;
  const B = c.runner_config.batch_size,
    accum = c.runner_config.gradient_accumulation_steps,
    epochs = c.runner_config.epochs;
  const S = o.data.index.seq_length,
    maxS = c.model.model_config.seq_length;
  if (S > maxS) throw new Error(`${o.data.dir}: seq_length ${S} is larger than the model's seq_length ${maxS}`);
  const hasLabels = 'labels' in o.data.index.columns;
  const perStep = B * accum;
  const records = c.num_samples > 0 ? Math.min(c.num_samples, o.data.length) : o.data.length; // --num_samples: the first records only
  const dataRank = o.dataRank ?? 0,
    dataRanks = o.dataRanks ?? 1;
  const stepsPerEpoch = Math.floor(Math.floor(records / dataRanks) / perStep);
  if (stepsPerEpoch < 1) {
    throw new Error(
      `${o.data.dir}: ${records} records are fewer than one step (batch_size ${B} × gradient_accumulation_steps ${accum} × ${dataRanks} data-parallel rank(s))`,
    );
  }
  const totalSteps = epochs * stepsPerEpoch;
  const schedule = makeSchedule(c.lr_schedule, totalSteps);
  const adamw = adamwFromConfig(c.optimizer);
  const decayed = w.trainable.filter((t) => !/norm/.test(t.name)),
    undecayed = w.trainable.filter((t) => /norm/.test(t.name));
  const saves = o.checkpoints?.saves;
  const flops = stepFlops(model.config, B * accum, S, {
    train: model.options.mode === 'train',
    loraKinds: model.loraKinds(),
    loraRank: model.options.lora?.rank ?? 0,
  });

  const settings: SampleSettings = {
    batch_size: B,
    gradient_accumulation_steps: accum,
    data_parallel: dataRanks,
    records,
    seed: c.seed,
    shuffle: c.train_dataset.data_loader.shuffle,
  };
  let pos: TrainPosition = START;
  // A resume asked for without checkpoints to resume from would quietly train from the start.
  if (c.resume_training !== false && !o.checkpoints)
    throw new Error('--resume_training: this run has no checkpoints to resume from');
  if (o.checkpoints) {
    pos = o.checkpoints.resume({ core, trainable: w.trainable, settings, totalSteps });
    if (pos.globalStep > totalSteps) {
      throw new Error(
        `--resume_training: the checkpoint is at global step ${pos.globalStep}, past this run's last step ${totalSteps} (epochs ${epochs} × ${stepsPerEpoch} steps)`,
      );
    }
    if (pos.stepInEpoch >= stepsPerEpoch) pos = { epoch: pos.epoch + 1, stepInEpoch: 0, globalStep: pos.globalStep };
  }
  model.stepCount = pos.globalStep * accum;

  const ids = new Int32Array(B * (S + 1)),
    labels = hasLabels ? new Int32Array(B * (S + 1)) : null;
  const losses: number[] = [];
  o.signal?.throwIfAborted(); // an abort before the first step changes nothing
  let lastCheckpoint: string | undefined,
    runStart = performance.now(),
    stepsThisRun = 0;
  for (let epoch = pos.epoch; epoch <= epochs; epoch++) {
    const order = epochOrder(records, {
      seed: c.seed,
      epoch: epoch - 1,
      shuffle: c.train_dataset.data_loader.shuffle,
      rank: dataRank,
      ranks: dataRanks,
    });
    const first = epoch === pos.epoch ? pos.stepInEpoch + 1 : 1;
    for (let step = first; step <= stepsPerEpoch; step++) {
      const t0 = performance.now();
      w.zeroGrads();
      let loss = 0;
      for (let a = 0; a < accum; a++) {
        for (let b = 0; b < B; b++) {
          const rec = o.data.record(order[(step - 1) * perStep + a * B + b]);
          ids.set(rec.input_ids.subarray(0, S + 1), b * (S + 1));
          if (labels) labels.set(rec.labels.subarray(0, S + 1), b * (S + 1));
        }
        // Ranks divide by the positions counted on all of them, and their losses and gradients sum.
        const total = o.parallel?.sum(countedTargets(ids, labels, B, S, model.config.padId));
        loss +=
          model.forwardBackward({ inputIds: ids, labels, batchSize: B, seqLength: S, lossTokens: total }).loss / accum;
      }
      scaleGrads(core, w.trainable, 1 / accum);
      o.faults?.inStep(pos.globalStep + 1);
      o.modelParallel?.reduceGrads();
      if (o.parallel) {
        o.parallel.reduceGrads();
        loss = o.parallel.sum(loss);
      }
      const norm = o.modelParallel ? o.modelParallel.gradNorm() : globalGradNorm(core, w.trainable);
      if (!Number.isFinite(loss) || !Number.isFinite(norm)) {
        throw new Error(
          `the loss is ${loss} and the gradient norm ${norm} at epoch ${epoch}, step ${step}: training stops; ` +
            (lastCheckpoint
              ? `the last good checkpoint is ${lastCheckpoint}`
              : 'no checkpoint was written in this run'),
        );
      }
      if (c.runner_wrapper.use_clip_grad && norm > c.runner_wrapper.max_grad_norm)
        scaleGrads(core, w.trainable, c.runner_wrapper.max_grad_norm / norm);
      const lr = schedule(pos.globalStep);
      const t = pos.globalStep + 1;
      adamwStep(core, decayed, adamw, t, lr);
      adamwStep(core, undecayed, { ...adamw, weightDecay: 0 }, t, lr);
      pos = { epoch, stepInEpoch: step, globalStep: t };
      losses.push(loss);
      stepsThisRun++;
      const ms = performance.now() - t0,
        elapsed = (performance.now() - runStart) / 1000;
      const remainingSteps = totalSteps - t;
      o.log(
        formatStep({
          epoch,
          epochs,
          step,
          stepsPerEpoch,
          loss,
          stepMs: ms,
          lr,
          globalNorm: norm,
          tflops: flops / (ms / 1000) / 1e12,
          done: t / totalSteps,
          samplesPerSecond: perStep / (ms / 1000),
          remaining: (elapsed / stepsThisRun) * remainingSteps,
        }),
      );
      o.onStep?.({ step: t, loss, lr, gradNorm: norm, tokensPerSecond: (perStep * S * dataRanks) / (ms / 1000) });
      if (saves && (t % saves.every === 0 || t === totalSteps))
        lastCheckpoint = await saves.save({ core, trainable: w.trainable, pos, settings });
      await new Promise((resolve) => setTimeout(resolve, 0)); // a turn of the event loop: a signal (or an abort) is handled here
      o.signal?.throwIfAborted();
    }
  }
  return { losses, globalSteps: pos.globalStep, lastCheckpoint };
}
