/** Running the bundled CLI as a benchmark step: its output, wall time, peak resident memory and step times. */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RunConfig } from '../src/config/types.ts';
import { configFromMindFormers, configToHF } from '../src/model/config.ts';

const CLI = new URL('../dist/src/cli.js', import.meta.url).pathname;

/** What one measured run gave. */
export interface Measured {
  stdout: string;
  seconds: number;
  /** the whole process's peak resident memory (GNU time's %M) */
  rssBytes: number;
}

/** Alpaca's 5,000 records (../shared) as qa shards of seq_length `seq` in cwd/data, through the CLI as users run it. */
export function alpacaShards(cwd: string, seq: number): string {
  const run = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { cwd, stdio: 'ignore' });
  run(
    'alpaca_converter',
    '--data_path',
    new URL('../../shared/data/alpaca/alpaca_5000.json', import.meta.url).pathname,
    '--output_path',
    join(cwd, 'conv.json'),
  );
  run(
    'llama_preprocess',
    '--dataset_type',
    'qa',
    '--input_glob',
    join(cwd, 'conv.json'),
    '--seq_length',
    String(seq),
    '--output_file',
    join(cwd, 'data'),
  );
  return join(cwd, 'data');
}

/** Every per_step_time of a run's loss monitor lines, in ms. */
export function stepTimesMs(log: string): number[] {
  return [...log.matchAll(/per_step_time: (\d+)ms/g)].map((m) => Number(m[1]));
}

/** The median step time of a log after the first step (which compiles and allocates), in ms. */
export function medianStepMs(log: string): number {
  const t = stepTimesMs(log)
    .slice(1)
    .sort((a, b) => a - b);
  return t[Math.floor(t.length / 2)];
}

/** Runs `wasmformers args...` in `cwd` under /usr/bin/time. */
export function measuredCli(cwd: string, args: string[]): Measured {
  const stats = join(cwd, 'time.txt'),
    t0 = performance.now();
  const stdout = execFileSync('/usr/bin/time', ['-f', '%M', '-o', stats, process.execPath, CLI, ...args], {
    encoding: 'utf8',
    cwd,
    maxBuffer: 1 << 26,
  });
  return {
    stdout,
    seconds: (performance.now() - t0) / 1000,
    rssBytes: Number(readFileSync(stats, 'utf8').trim().split('\n').at(-1)) * 1024,
  };
}

/** What the PyTorch LoRA loop trains: the run's model shape, and batches of `batchSize` rows (from `batches`, else random). */
export interface TorchLoraRun {
  cfg: RunConfig;
  configPath: string;
  batchSize: number;
  steps: number;
  threads: number;
  /** a safetensors file of input_ids and labels [rows, S+1] */
  batches?: string;
}

/**
 * The training tokens/s of the PyTorch LoRA loop (test/reference/llama_ref.py bench: rank 16 on
 * q, k, v, o) on `threads` threads, written into `dir`; undefined, with a line saying why, when
 * PyTorch cannot run.
 */
export function torchLoraRate(dir: string, r: TorchLoraRun): number | undefined {
  writeFileSync(
    join(dir, 'config.json'),
    JSON.stringify(configToHF(configFromMindFormers(r.cfg.model.model_config, r.configPath))),
  );
  writeFileSync(
    join(dir, 'lora.json'),
    JSON.stringify({ rank: 16, alpha: 16, targets: ['q_proj', 'k_proj', 'v_proj', 'o_proj'] }),
  );
  const args = [
    new URL('../test/reference/llama_ref.py', import.meta.url).pathname,
    'bench',
    '--config',
    join(dir, 'config.json'),
    '--lora',
    join(dir, 'lora.json'),
    '--batch-size',
    String(r.batchSize),
    ...(r.batches ? ['--batches', r.batches] : []),
    '--steps',
    String(r.steps),
    '--threads',
    String(r.threads),
  ];
  const threads = String(r.threads);
  try {
    const out = execFileSync('/usr/bin/python3', args, {
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: threads, OMP_NUM_THREADS: threads },
    });
    return JSON.parse(out).train_tokens_per_s;
  } catch (err) {
    console.log(`PyTorch reference unavailable (${(err as Error).message.split('\n')[0]})`);
    return undefined;
  }
}
