/**
 * The seed's quick start end to end (SPEC.md §1), each step a `wasmformers` command run as a
 * child process with the seed's flags, its console lines shown as they come:
 *
 *   alpaca_converter     the data (training part, held-out part) → conversation JSON
 *   llama_preprocess     qa shards of both; wiki shards of the pre-training text
 *   msrun_launcher       N ranks of run_mindformer --run_mode train: pre-train a tiny Llama
 *                        (skipped with --load_checkpoint)
 *   run_mindformer       eval on the held-out shards, predict a few held-out prompts (before)
 *   msrun_launcher       N ranks of run_mindformer --run_mode finetune: LoRA
 *   run_mindformer       eval and predict again, through the adapter (after)
 *
 * Files go where the seed puts them: shards under output/quickstart/ (the --output_file),
 * fine-tuning's output/msrun_log/, output/log/rank_N/, output/checkpoint/rank_N/,
 * output/report.html and output/adapter/; pre-training, which the seed does not do, keeps the
 * same layout under output/quickstart_train/.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { loadRunConfig } from '../config/load.ts';
import { runWasmformers } from './child.ts';
import type { QuickstartOptions } from './options.ts';
import { answerOf, chatPrompt, readAlpaca, splitHeldOut, spread, type AlpacaRecord } from './records.ts';
import { LossLines, parseEval, parseGenerated, summaryLines, type AnswerPair, type EvalResult } from './summary.ts';
import { follow } from './tail.ts';

/** Where the quick start writes, relative to the current folder. */
const OUT = {
  data: 'output/quickstart',
  pretrain: 'output/quickstart_train',
  /** what the seed's fine-tuning writes, and what the quick start writes beside it */
  fineTune: ['output/msrun_log', 'output/log', 'output/checkpoint', 'output/adapter', 'output/report.html'],
};

/** A path as the user should read it: relative to the current folder when it lies inside it. */
function shown(path: string): string {
  const rel = relative('.', path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : resolve(path);
}

/** A word of a command line, quoted when it needs to be (for msrun_launcher's command and for display). */
function quote(word: string): string {
  return /^[\w./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The quick start's result, for the summary and for tests. */
export interface QuickstartResult {
  before: EvalResult;
  after: EvalResult;
  answers: AnswerPair[];
  report: string;
  seconds: number;
}

/** Runs the quick start; `say` prints a line. See the file comment. */
export async function runQuickstart(o: QuickstartOptions, say: (line: string) => void): Promise<QuickstartResult> {
  const t0 = performance.now();
  const heading = (text: string) => say(`\n== ${text}`);
  const command = (argv: string[], display = argv) => say(`$ wasmformers ${display.map(quote).join(' ')}`);
  /** Runs a command that prints little: every line is shown. */
  const step = async (argv: string[]) => {
    command(argv);
    return runWasmformers(argv, (line) => say(line));
  };

  clearOutputs(say, [o.dataPath, o.heldOutPath, o.modelFile, o.loadCheckpoint, o.pretrainPath, o.trainConfig, o.config]);

  // 1. The data: a user's file is split into a training and a held-out part unless both are given.
  const tuneConfig = loadRunConfig(o.config, [], () => {});
  const seq = tuneConfig.model.model_config.seq_length;
  let trainJson = shown(o.dataPath), heldOutJson = o.heldOutPath && shown(o.heldOutPath);
  mkdirSync(OUT.data, { recursive: true });
  if (!heldOutJson) {
    const parts = splitHeldOut(await readAlpaca(o.dataPath), o.heldOut, o.dataPath);
    trainJson = join(OUT.data, 'alpaca_train.json');
    heldOutJson = join(OUT.data, 'alpaca_heldout.json');
    writeFileSync(trainJson, JSON.stringify(parts.train, null, 2) + '\n');
    writeFileSync(heldOutJson, JSON.stringify(parts.heldOut, null, 2) + '\n');
    say(`${shown(o.dataPath)}: the first ${parts.train.length} records to fine-tune on (${trainJson}), the last ${parts.heldOut.length} held out (${heldOutJson})`);
  }
  const heldOut = await readAlpaca(heldOutJson);
  const tokenizer = o.modelFile ? ['--model_file', shown(o.modelFile)] : [];
  const vocab = o.modelFile ? ['--processor.tokenizer.vocab_file', shown(o.modelFile)] : [];

  heading(`Convert the Alpaca data to conversations (alpaca_converter)`);
  const trainConv = join(OUT.data, 'alpaca-conversation.json'), heldOutConv = join(OUT.data, 'heldout-conversation.json');
  await step(['alpaca_converter', '--data_path', trainJson, '--output_path', trainConv]);
  await step(['alpaca_converter', '--data_path', heldOutJson, '--output_path', heldOutConv]);

  heading(`Tokenize them with the ${o.modelFile ? shown(o.modelFile) : 'Llama 2'} tokenizer, seq_length ${seq} (llama_preprocess)`);
  const trainShards = join(OUT.data, `alpaca-fastchat${seq}`), heldOutShards = join(OUT.data, `heldout-fastchat${seq}`);
  await step(['llama_preprocess', '--dataset_type', 'qa', '--input_glob', trainConv, ...tokenizer, '--seq_length', String(seq), '--output_file', trainShards]);
  await step(['llama_preprocess', '--dataset_type', 'qa', '--input_glob', heldOutConv, ...tokenizer, '--seq_length', String(seq), '--output_file', heldOutShards]);

  const parallel = ['--use_parallel', 'True', '--parallel_config.data_parallel', String(o.workers), '--parallel_config.model_parallel', '1'];
  /** msrun_launcher "<rankArgv>" WORKER_NUM [...more]: the launcher's own lines, then rank 0's loss lines as they come. */
  const launch = async (rankArgv: string[], more: string[], infoLog: string) => {
    const launcherArgv = ['msrun_launcher', rankArgv.map(quote).join(' '), String(o.workers), ...more];
    command(launcherArgv);
    // Rank 0's framework log gets the loss monitor's lines as each step ends.
    const losses = new LossLines(say);
    const tailing = follow(infoLog, (line) => losses.line(line));
    const started = performance.now();
    try {
      await runWasmformers(launcherArgv, (line) => {
        // The launcher's closing line comes after rank 0's last step: show that step first.
        tailing.poll();
        losses.flush();
        say(line);
      });
    } finally {
      tailing.stop();
      losses.flush();
    }
    say(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  };

  // 2. The model to fine-tune: the user's checkpoint, or a tiny Llama pre-trained here.
  let base: string;
  if (o.loadCheckpoint) {
    base = shown(o.loadCheckpoint);
  } else {
    const trainSeq = loadRunConfig(o.trainConfig, [], () => {}).model.model_config.seq_length;
    const textShards = join(OUT.data, `pretrain${trainSeq}`);
    heading(`Tokenize the pre-training text ${shown(o.pretrainPath)} (llama_preprocess, wiki)`);
    await step(['llama_preprocess', '--dataset_type', 'wiki', '--input_glob', shown(o.pretrainPath), ...tokenizer, '--seq_length', String(trainSeq), '--output_file', textShards]);
    heading(`Pre-train a small Llama on it: ${o.workers} ranks, every parameter (msrun_launcher, run_mindformer --run_mode train)`);
    await launch([
      'run_mindformer', '--config', shown(o.trainConfig), '--run_mode', 'train', '--train_dataset_dir', textShards,
      '--output_dir', `./${OUT.pretrain}`, ...parallel, ...(o.pretrainEpochs ? ['--epochs', String(o.pretrainEpochs)] : []),
    ], ['8118', join(OUT.pretrain, 'msrun_log'), 'False', '7200'], join(OUT.pretrain, 'log', 'rank_0', 'info.log'));
    base = join(OUT.pretrain, 'checkpoint', 'rank_0');
  }

  const prompts = spread(heldOut, o.prompts);
  const single = ['--config', shown(o.config), '--output_dir', './output', '--use_parallel', 'False'];
  const evaluate = async (checkpoint: string): Promise<EvalResult> => {
    const argv = ['run_mindformer', ...single, '--run_mode', 'eval', '--eval_dataset_dir', heldOutShards, '--load_checkpoint', checkpoint];
    command(argv);
    const out = await runWasmformers(argv, (line, stream) => {
      if (stream === 'stderr' || line.startsWith('Eval over') || line.startsWith("{'PerplexityMetric'")) say(line);
    });
    return parseEval(out.stdout);
  };
  const predict = async (checkpoint: string): Promise<string[]> => {
    if (prompts.length === 0) return [];
    const texts = prompts.map(chatPrompt);
    const argv = ['run_mindformer', ...single, '--run_mode', 'predict', '--load_checkpoint', checkpoint, ...vocab, '--predict_data', ...texts];
    command(argv, [...argv.slice(0, -texts.length), `<${texts.length} held-out prompts in the training template>`]);
    // predict streams each whole text (the long chat prompt first); its log has one line per prompt.
    const logged: string[] = [];
    const tailing = follow(join('output', 'log', 'rank_0', 'info.log'), (line) => logged.push(line));
    try {
      await runWasmformers(argv, (line, stream) => stream === 'stderr' && say(line));
    } finally {
      tailing.stop();
    }
    const generated = parseGenerated(logged);
    if (generated.length !== texts.length) throw new Error(`predict logged ${generated.length} text(s) for ${texts.length} prompt(s)`);
    const answers = generated.map((text, i) => answerOf(text, texts[i]));
    answers.forEach((a, i) => say(`  ${prompts[i].instruction.replace(/\s+/g, ' ')} → ${JSON.stringify(a)}`));
    return answers;
  };

  heading(`Before fine-tuning: evaluate on ${heldOut.length} held-out records, answer ${prompts.length} of them (run_mindformer --run_mode eval, predict)`);
  const before = await evaluate(base);
  const answersBefore = await predict(base);

  heading(`LoRA fine-tuning: ${o.workers} ranks (msrun_launcher, run_mindformer --run_mode finetune)`);
  await launch([
    'run_mindformer', '--config', shown(o.config), '--run_mode', 'finetune', '--train_dataset_dir', trainShards, '--load_checkpoint', base,
    '--output_dir', './output', ...parallel,
    ...(o.epochs ? ['--epochs', String(o.epochs)] : []), ...(o.numSamples ? ['--num_samples', String(o.numSamples)] : []),
  ], [], join('output', 'log', 'rank_0', 'info.log'));

  heading(`After fine-tuning: the same, through the adapter output/adapter`);
  const adapter = join('output', 'adapter');
  const after = await evaluate(adapter);
  const answersAfter = await predict(adapter);

  const result: QuickstartResult = {
    before, after, report: resolve('output', 'report.html'), seconds: (performance.now() - t0) / 1000,
    answers: prompts.map((p: AlpacaRecord, i) => ({ instruction: p.instruction, expected: p.output, before: answersBefore[i], after: answersAfter[i] })),
  };
  say('');
  for (const line of summaryLines({ ...result, heldOut: heldOut.length })) say(line);
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
