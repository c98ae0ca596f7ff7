/**
 * The seed's quick start end to end (SPEC.md §1), each step a `wasmformers` command run as a
 * child process with the seed's flags, its console lines shown as they come:
 *
 *   alpaca_converter     the data (training part, held-out part) → conversation JSON
 *   llama_preprocess     qa shards of both; wiki shards of the pre-training text
 *   msrun_launcher       N ranks of run_mindformer --run_mode train: pre-train a tiny Llama
 *                        (skipped with --load_checkpoint)
 *   run_mindformer       eval on the held-out shards, predict every held-out prompt (before)
 *   msrun_launcher       N ranks of run_mindformer --run_mode finetune: LoRA
 *   run_mindformer       eval and predict again, through the adapter (after)
 *
 * Files go where the seed puts them: shards under output/quickstart/ (the --output_file),
 * fine-tuning's output/msrun_log/, output/log/rank_N/, output/checkpoint/rank_N/,
 * output/report.html and output/adapter/; pre-training, which the seed does not do, keeps the
 * same layout under output/quickstart_train/. Every input is checked before the previous run's
 * outputs are removed (inputs.ts). A --model_file with a chat template has the conversations
 * tokenized through it (llama_preprocess --dataset_type chat: the answers' tokens count) and the
 * prompts rendered by it (predict --chat True); otherwise the seed's qa rows and prompts. The summary counts the held-out answers that are exactly right
 * (records.ts: isExactlyRight) before and after.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { checkInputs } from './inputs.ts';
import type { QuickstartOptions } from './options.ts';
import { isExactlyRight, spread } from './records.ts';
import { rankZeroLog, shown, Steps } from './steps.ts';
import { summaryLines, type AnswerPair, type EvalResult } from './summary.ts';

/** Where the quick start writes, relative to the current folder. */
const OUT = {
  data: 'output/quickstart',
  pretrain: 'output/quickstart_train',
  /** what the seed's fine-tuning writes, and what the quick start writes beside it */
  fineTune: ['output/msrun_log', 'output/log', 'output/checkpoint', 'output/adapter', 'output/report.html'],
};

/** The quick start's result, for the summary and for tests. */
export interface QuickstartResult {
  before: EvalResult;
  after: EvalResult;
  /** every held-out prompt answered, with its answers before and after */
  answers: AnswerPair[];
  report: string;
  seconds: number;
}

/** Runs the quick start; `say` prints a line. See the file comment. */
export async function runQuickstart(o: QuickstartOptions, say: (line: string) => void): Promise<QuickstartResult> {
  const t0 = performance.now(),
    steps = new Steps(say);
  // Every input is opened and checked first, so that a bad one stops the run before anything is removed.
  const { seq, trainSeq, heldOut, split, chat } = await checkInputs(o);
  clearOutputs(say, [
    o.dataPath,
    o.heldOutPath,
    o.modelFile,
    o.loadCheckpoint,
    o.pretrainPath,
    o.trainConfig,
    o.config,
  ]);

  // The data: a user's file is split into a training and a held-out part unless both are given.
  mkdirSync(OUT.data, { recursive: true });
  let trainJson: string, heldOutJson: string;
  if (split) {
    trainJson = join(OUT.data, 'alpaca_train.json');
    heldOutJson = join(OUT.data, 'alpaca_heldout.json');
    writeFileSync(trainJson, JSON.stringify(split.train, null, 2) + '\n');
    writeFileSync(heldOutJson, JSON.stringify(split.heldOut, null, 2) + '\n');
    say(
      `${shown(o.dataPath)}: the first ${split.train.length} records to fine-tune on (${trainJson}), the last ${split.heldOut.length} held out (${heldOutJson})`,
    );
  } else {
    [trainJson, heldOutJson] = [shown(o.dataPath), shown(o.heldOutPath!)];
  }
  const tokenizer = o.modelFile ? ['--model_file', shown(o.modelFile)] : [];

  steps.heading('Convert the Alpaca data to conversations (alpaca_converter)');
  const trainConv = join(OUT.data, 'alpaca-conversation.json'),
    heldOutConv = join(OUT.data, 'heldout-conversation.json');
  await steps.run(['alpaca_converter', '--data_path', trainJson, '--output_path', trainConv]);
  await steps.run(['alpaca_converter', '--data_path', heldOutJson, '--output_path', heldOutConv]);

  const rows = chat ? 'chat' : 'qa';
  steps.heading(
    `Tokenize them with the ${o.modelFile ? shown(o.modelFile) : 'Llama 2'} tokenizer${chat ? ' and its chat template' : ''}, seq_length ${seq} (llama_preprocess)`,
  );
  const trainShards = join(OUT.data, `alpaca-fastchat${seq}`),
    heldOutShards = join(OUT.data, `heldout-fastchat${seq}`);
  await steps.run([
    'llama_preprocess',
    '--dataset_type',
    rows,
    '--input_glob',
    trainConv,
    ...tokenizer,
    '--seq_length',
    String(seq),
    '--output_file',
    trainShards,
  ]);
  await steps.run([
    'llama_preprocess',
    '--dataset_type',
    rows,
    '--input_glob',
    heldOutConv,
    ...tokenizer,
    '--seq_length',
    String(seq),
    '--output_file',
    heldOutShards,
  ]);

  // The model to fine-tune: the user's checkpoint, or a tiny Llama pre-trained here.
  const parallel = [
    '--use_parallel',
    'True',
    '--parallel_config.data_parallel',
    String(o.workers),
    '--parallel_config.model_parallel',
    '1',
  ];
  let base: string;
  if (o.loadCheckpoint) {
    base = shown(o.loadCheckpoint);
  } else {
    const textShards = join(OUT.data, `pretrain${trainSeq}`);
    steps.heading(`Tokenize the pre-training text ${shown(o.pretrainPath)} (llama_preprocess, wiki)`);
    await steps.run([
      'llama_preprocess',
      '--dataset_type',
      'wiki',
      '--input_glob',
      shown(o.pretrainPath),
      ...tokenizer,
      '--seq_length',
      String(trainSeq),
      '--output_file',
      textShards,
    ]);
    steps.heading(
      `Pre-train a small Llama on it: ${o.workers} ranks, every parameter (msrun_launcher, run_mindformer --run_mode train)`,
    );
    await steps.launch(
      [
        'run_mindformer',
        '--config',
        shown(o.trainConfig),
        '--run_mode',
        'train',
        '--train_dataset_dir',
        textShards,
        '--output_dir',
        `./${OUT.pretrain}`,
        ...parallel,
        ...(o.pretrainEpochs ? ['--epochs', String(o.pretrainEpochs)] : []),
      ],
      o.workers,
      ['8118', join(OUT.pretrain, 'msrun_log'), 'False', '7200'],
      rankZeroLog(OUT.pretrain),
    );
    base = join(OUT.pretrain, 'checkpoint', 'rank_0');
  }

  // Eval and predict run as one process, the fine-tuning job's output_dir and tokenizer.
  const single = [
    '--config',
    shown(o.config),
    '--output_dir',
    './output',
    '--use_parallel',
    'False',
    ...(o.modelFile ? ['--processor.tokenizer.vocab_file', shown(o.modelFile)] : []),
    ...(chat ? ['--chat', 'True'] : []),
  ];
  const prompts = o.prompts === undefined ? heldOut : spread(heldOut, o.prompts),
    log = rankZeroLog('output');
  const tally = (answers: string[]) =>
    say(
      `  ${prompts.filter((p, i) => isExactlyRight(answers[i], p.output)).length} of ${prompts.length} answers exactly right`,
    );

  steps.heading(
    `Before fine-tuning: evaluate on ${heldOut.length} held-out records, answer ${prompts.length} of them (run_mindformer --run_mode eval, predict)`,
  );
  const before = await steps.evaluate(single, heldOutShards, base);
  const answersBefore = await steps.predict(single, prompts, base, log, chat);
  if (prompts.length) tally(answersBefore);

  steps.heading(`LoRA fine-tuning: ${o.workers} ranks (msrun_launcher, run_mindformer --run_mode finetune)`);
  await steps.launch(
    [
      'run_mindformer',
      '--config',
      shown(o.config),
      '--run_mode',
      'finetune',
      '--train_dataset_dir',
      trainShards,
      '--load_checkpoint',
      base,
      '--output_dir',
      './output',
      ...parallel,
      ...(o.epochs ? ['--epochs', String(o.epochs)] : []),
      ...(o.numSamples ? ['--num_samples', String(o.numSamples)] : []),
    ],
    o.workers,
    [],
    log,
  );

  const adapter = join('output', 'adapter');
  steps.heading(`After fine-tuning: the same, through the adapter ${adapter}`);
  const after = await steps.evaluate(single, heldOutShards, adapter);
  const answersAfter = await steps.predict(single, prompts, adapter, log, chat);
  if (prompts.length) tally(answersAfter);

  const result: QuickstartResult = {
    before,
    after,
    report: resolve('output', 'report.html'),
    seconds: (performance.now() - t0) / 1000,
    answers: prompts.map((p, i) => ({
      instruction: p.instruction,
      expected: p.output,
      before: answersBefore[i],
      after: answersAfter[i],
    })),
  };
  say('');
  for (const line of summaryLines({ ...result, heldOut: heldOut.length, log })) say(line);
  return result;
}

/**
 * Removes what an earlier quick start wrote under output/ (the commands refuse to overwrite
 * shards), unless one of the run's own inputs lies there.
 */
function clearOutputs(say: (line: string) => void, inputs: (string | undefined)[]): void {
  const found = [OUT.data, OUT.pretrain, ...OUT.fineTune].filter((p) => existsSync(p));
  for (const input of inputs) {
    const under = input && found.find((p) => !relative(resolve(p), resolve(input)).startsWith('..'));
    if (under) throw new Error(`${input} lies in ${under}, which the quick start clears first: copy it elsewhere`);
  }
  if (found.length === 0) return;
  say(`Removing the previous run's outputs: ${found.join(', ')}`);
  for (const p of found) rmSync(p, { recursive: true, force: true });
}
