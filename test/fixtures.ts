/**
 * What every test shares: the repository root and the real data and checkpoint in ../shared; the
 * one way tests run wasmformers as users do, in a child process (the bundled CLI, dist/src/cli.js,
 * or one of its per-command scripts, dist/scripts/<name>.js, under Node, Deno or Bun, or their
 * TypeScript source under tsx); and the Alpaca shards several tests train on.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root (ends with '/'). */
export const ROOT = new URL('../', import.meta.url).pathname;
/** ../shared beside the checkout: real data and a real Hugging Face checkpoint, never copied in. */
export const SHARED = join(ROOT, '..', 'shared');
/** The tiny random Llama 2 checkpoint (config.json + model.safetensors). */
export const TINY = join(SHARED, 'models', 'tiny-random-llama-2');
/** The 5,000 Alpaca records. */
export const ALPACA = join(SHARED, 'data', 'alpaca', 'alpaca_5000.json');
/** The bundled command line (dist/src/cli.js), run as users run it. */
export const CLI = join(ROOT, 'dist', 'src', 'cli.js');

/** How each runtime runs a bundle. */
export const RUNTIMES = {
  node: [process.execPath],
  deno: [join(ROOT, 'node_modules/.bin/deno'), 'run', '-A'],
  bun: [join(ROOT, 'node_modules/.bin/bun')],
};

/** How to run it. */
export interface CliOptions {
  /** the working folder (the repository root by default) */
  cwd?: string;
  /** variables added to the environment */
  env?: Record<string, string>;
  /** text on its standard input (none by default) */
  input?: string;
  /** milliseconds after which it is sent SIGTERM */
  timeoutMs?: number;
  /** the exit code it must end with: another fails the run, showing what it printed */
  expect?: number;
  /** a per-command script (`serve`, `quickstart`, `logits`...) instead of the CLI */
  script?: string;
  /** the TypeScript source under tsx instead of the bundle (Node only) */
  source?: boolean;
  /** the runtime of the bundle (Node by default) */
  runtime?: keyof typeof RUNTIMES;
  /** a command it runs under, which takes the program and its arguments last (a shell setting ulimit, unshare) */
  wrap?: string[];
}

/** How a run ended and what it printed. */
export interface CliResult {
  /** exit code, null when a signal ended it */
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** from start to exit */
  seconds: number;
}

/** A run in progress. */
export interface RunningCli {
  /** the process, to signal or to follow its output */
  child: ChildProcess;
  /** stdout and stderr so far, together in the order they came */
  output(): string;
  /** resolves when it has exited (rejects when it ended otherwise than `expect`) */
  done: Promise<CliResult>;
}

/** The program line: runtime, its flags and the entry. */
function program(o: CliOptions): string[] {
  const runtime = o.runtime ?? 'node';
  if (o.source) {
    assert.equal(runtime, 'node', 'the source runs under Node');
    const entry = o.script ? join(ROOT, 'scripts', `${o.script}.ts`) : join(ROOT, 'src', 'cli.ts');
    return [process.execPath, '--import', import.meta.resolve('tsx'), entry];
  }
  return [...RUNTIMES[runtime], o.script ? join(ROOT, 'dist', 'scripts', `${o.script}.js`) : CLI];
}

/** Starts `args` and follows it; see runCli for the options. */
export function startCli(args: string[], o: CliOptions = {}): RunningCli {
  const [cmd, ...pre] = [...(o.wrap ?? []), ...program(o), ...args];
  const t0 = performance.now();
  const child = spawn(cmd, pre, {
    cwd: o.cwd ?? ROOT,
    env: { ...process.env, ...o.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stdout = '',
    stderr = '',
    both = '';
  child.stdout!.on('data', (d) => {
    stdout += d;
    both += d;
  });
  child.stderr!.on('data', (d) => {
    stderr += d;
    both += d;
  });
  const timer = o.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGTERM'), o.timeoutMs);
  const done = new Promise<CliResult>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const r = { code, signal, stdout, stderr, seconds: (performance.now() - t0) / 1000 };
      if (o.expect === undefined || code === o.expect) return resolve(r);
      reject(
        new assert.AssertionError({
          message: `${args.join(' ')}: exited with ${code ?? signal}, not ${o.expect}:\n${stderr}\n${stdout.slice(-3000)}`,
          actual: code,
          expected: o.expect,
          operator: '==',
        }),
      );
    });
  });
  child.stdin!.on('error', () => {}); // a child that exits without reading its input
  child.stdin!.end(o.input ?? '');
  return { child, output: () => both, done };
}

/** Runs `args` to its end: the CLI unless `script`, bundled unless `source`, in `cwd` (the repository root). */
export function runCli(args: string[], o: CliOptions = {}): Promise<CliResult> {
  return startCli(args, o).done;
}

/**
 * Writes qa shards of Alpaca records under `dir/name` as users make them (alpaca_converter, then
 * llama_preprocess --dataset_type qa at `seqLength`): the first `count` records, or all 5,000
 * without it; tokenized by `modelFile`, or the bundled Llama 2 tokenizer without it. Returns the
 * shard folder.
 */
export async function alpacaQaShards(
  dir: string,
  name: string,
  seqLength: number,
  count?: number,
  modelFile?: string,
): Promise<string> {
  let source = ALPACA;
  if (count !== undefined) {
    source = join(dir, 'alpaca.json');
    writeFileSync(source, JSON.stringify(JSON.parse(readFileSync(ALPACA, 'utf8')).slice(0, count)));
  }
  const conversations = join(dir, 'conv.json'),
    shards = join(dir, name);
  await runCli(['alpaca_converter', '--data_path', source, '--output_path', conversations], { expect: 0 });
  await runCli(
    [
      'llama_preprocess',
      '--dataset_type',
      'qa',
      '--input_glob',
      conversations,
      '--seq_length',
      String(seqLength),
      '--output_file',
      shards,
      '--workers',
      '0',
      ...(modelFile === undefined ? [] : ['--model_file', modelFile]),
    ],
    { expect: 0 },
  );
  return shards;
}
