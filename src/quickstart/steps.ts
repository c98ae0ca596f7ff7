/**
 * The quick start's kinds of step: each shows its `wasmformers` command line as typed, runs it as
 * a child process, and shows what the seed's console would show while it runs.
 */
import { isAbsolute, join, relative, resolve } from 'node:path';
import { runWasmformers } from './child.ts';
import { chatPromptIds, type ChatTemplate } from '../tokenizer/chat_template.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { answerOf, chatPrompt, userMessage, type AlpacaRecord } from './records.ts';
import { LossLines, parseEval, parseGenerated, type EvalResult } from './summary.ts';
import { follow } from './tail.ts';

/** A path as the user should read it: relative to the current folder when it lies inside it. */
export function shown(path: string): string {
  const rel = relative('.', path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : resolve(path);
}

/** A word of a command line, quoted when it needs to be (for msrun_launcher's command and for display). */
function quote(word: string): string {
  return /^[\w./:=@%+,-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** Rank 0's log in an output_dir: eval's and predict's lines, and training's loss lines as each step ends. */
export function rankZeroLog(outputDir: string): string {
  return join(outputDir, 'log', 'rank_0', 'info.log');
}

/** Runs the steps, printing with `say`. */
export class Steps {
  constructor(private readonly say: (line: string) => void) {}

  /** A step's title. */
  heading(text: string): void {
    this.say(`\n== ${text}`);
  }

  private command(argv: string[]): void {
    this.say(`$ wasmformers ${argv.map(quote).join(' ')}`);
  }

  /** A command that prints little (alpaca_converter, llama_preprocess): every line is shown. */
  async run(argv: string[]): Promise<void> {
    this.command(argv);
    await runWasmformers(argv, (line) => this.say(line));
  }

  /**
   * `msrun_launcher "<rankArgv>" WORKER_NUM [...more]`: the launcher's lines, and rank 0's loss
   * lines from `rankLog` as they come; then how long it took.
   */
  async launch(rankArgv: string[], workers: number, more: string[], rankLog: string): Promise<void> {
    const argv = ['msrun_launcher', rankArgv.map(quote).join(' '), String(workers), ...more];
    this.command(argv);
    const losses = new LossLines(this.say);
    const tailing = follow(rankLog, (line) => losses.line(line));
    const started = performance.now();
    try {
      await runWasmformers(argv, (line) => {
        // The launcher's closing line comes after rank 0's last step: show that step first.
        tailing.poll();
        losses.flush();
        this.say(line);
      });
    } finally {
      tailing.stop();
      losses.flush();
    }
    this.say(`(${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }

  /** `run_mindformer <common> --run_mode eval`: its result lines, and the metric. */
  async evaluate(common: string[], datasetDir: string, checkpoint: string): Promise<EvalResult> {
    const argv = [
      'run_mindformer',
      ...common,
      '--run_mode',
      'eval',
      '--eval_dataset_dir',
      datasetDir,
      '--load_checkpoint',
      checkpoint,
    ];
    this.command(argv);
    const out = await runWasmformers(argv, (line, stream) => {
      if (stream === 'stderr' || line.startsWith('Eval over') || line.startsWith("{'PerplexityMetric'")) this.say(line);
    });
    return parseEval(out.stdout);
  }

  /**
   * `run_mindformer <common> --run_mode predict` on the records' prompts in the training
   * template, all in one run; returns the answers. predict streams each whole text (the long
   * chat prompt first) to stdout; the texts are read from its log, `rankLog`, one line per prompt.
   * With `chat` (and `--chat True` in `common`) the prompts are the user messages, which predict
   * renders through the template; the answer follows the rendered prompt's decoded text.
   */
  async predict(
    common: string[],
    records: AlpacaRecord[],
    checkpoint: string,
    rankLog: string,
    chat: { template: ChatTemplate; tokenizer: Tokenizer } | null,
  ): Promise<string[]> {
    if (records.length === 0) return [];
    const prompts = records.map(chat ? userMessage : chatPrompt);
    const shownPrompts = chat
      ? prompts.map((p) =>
          chat.tokenizer.decode(chatPromptIds(chat.template, chat.tokenizer, p), { skipSpecialTokens: true }),
        )
      : prompts;
    const argv = [
      'run_mindformer',
      ...common,
      '--run_mode',
      'predict',
      '--load_checkpoint',
      checkpoint,
      '--predict_data',
    ];
    this.command([
      ...argv,
      `<${prompts.length} held-out prompts ${chat ? 'as user messages' : 'in the training template'}>`,
    ]);
    const logged: string[] = [];
    const tailing = follow(rankLog, (line) => logged.push(line));
    try {
      await runWasmformers([...argv, ...prompts], (line, stream) => stream === 'stderr' && this.say(line));
    } finally {
      tailing.stop();
    }
    const texts = parseGenerated(logged);
    if (texts.length !== prompts.length)
      throw new Error(`predict logged ${texts.length} text(s) for ${prompts.length} prompt(s)`);
    return texts.map((text, i) => answerOf(text, shownPrompts[i]));
  }
}
