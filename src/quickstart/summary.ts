/**
 * What the quick start reads from the commands' output (eval's metric line, predict's generated
 * texts, the loss monitor's lines) and the summary it prints at the end.
 */
import { isExactlyRight, spread } from './records.ts';

/** Held-out loss and perplexity, from eval's `{'PerplexityMetric': ...}` line. */
export interface EvalResult {
  loss: number;
  ppl: number;
}

/** The metric in eval's output lines; an error when the line is missing. */
export function parseEval(lines: string[]): EvalResult {
  for (const line of lines) {
    const m = /^\{'PerplexityMetric': \{'loss': (\S+), 'PPL': (\S+)\}\}$/.exec(line.trim());
    if (m) return { loss: Number(m[1]), ppl: Number(m[2]) };
  }
  throw new Error("eval printed no {'PerplexityMetric': ...} line");
}

/** The texts of predict's `{'text_generation_text': [...]}` log lines, in order. */
export function parseGenerated(lines: string[]): string[] {
  const texts: string[] = [];
  for (const line of lines) {
    const m = /^\{'text_generation_text': \[(.*)\]\}$/.exec(line);
    if (m) texts.push(JSON.parse(m[1]) as string);
  }
  return texts;
}

/**
 * Passes on the loss monitor's lines (`{ Epoch:[...` and its progress line), at most one step
 * every `everyMs` and always the last one, so that a long run stays readable.
 */
export class LossLines {
  private held: string[] = [];
  private last = -Infinity;

  constructor(
    private readonly say: (line: string) => void,
    private readonly everyMs = 1000,
  ) {}

  /** Takes one line of the training log. */
  line(text: string): void {
    if (text.startsWith('{ Epoch:')) this.held = [text];
    else if (this.held.length === 1 && text.trimEnd().endsWith('}')) {
      this.held.push(text);
      if (performance.now() - this.last >= this.everyMs) this.flush();
    } else if (text.startsWith('Training finished')) {
      this.flush();
      this.say(text);
    }
  }

  /** Prints the step held back, if any. */
  flush(): void {
    if (this.held.length === 0) return;
    for (const l of this.held) this.say(l);
    this.held = [];
    this.last = performance.now();
  }
}

/** One held-out prompt's answers. */
export interface AnswerPair {
  instruction: string;
  expected: string;
  before: string;
  after: string;
}

/** A generated answer on one line, shortened to `max` characters. */
function oneLine(text: string, max = 72): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return JSON.stringify(flat.length > max ? `${flat.slice(0, max - 1)}…` : flat);
}

/** `n of N (p%)`. */
function share(n: number, of: number): string {
  return `${n} of ${of} (${Math.round((100 * n) / of)}%)`;
}

/** How many answers the summary shows, spread over the held-out prompts. */
const EXAMPLES = 8;

/**
 * The closing summary: eval before → after, how many held-out answers are exactly right before →
 * after, a few of them side by side, where every generated text and the report are.
 */
export function summaryLines(o: {
  seconds: number;
  heldOut: number;
  before: EvalResult;
  after: EvalResult;
  answers: AnswerPair[];
  log: string;
  report: string;
}): string[] {
  const f = (x: number) => x.toFixed(4);
  const lines = [
    `Quick start finished in ${Math.round(o.seconds)} s.`,
    `  held-out eval (${o.heldOut} records): loss ${f(o.before.loss)} → ${f(o.after.loss)}, perplexity ${f(o.before.ppl)} → ${f(o.after.ppl)}`,
  ];
  if (o.answers.length) {
    const right = (w: 'before' | 'after') => o.answers.filter((p) => isExactlyRight(p[w], p.expected)).length;
    lines.push(
      `  held-out answers exactly right: ${share(right('before'), o.answers.length)} before fine-tuning → ${share(right('after'), o.answers.length)} after`,
    );
    for (const p of spread(o.answers, EXAMPLES)) {
      lines.push(`    ${p.instruction.replace(/\s+/g, ' ')}  (expected ${oneLine(p.expected)})`);
      lines.push(`      before: ${oneLine(p.before)}`);
      lines.push(`      after:  ${oneLine(p.after)}`);
    }
    lines.push(`  every generated text: ${o.log} ({'text_generation_text': ...} lines, before then after)`);
  }
  lines.push(`  report: ${o.report}`);
  return lines;
}
