/** Running the bundled CLI as a benchmark step: its output, wall time, peak resident memory and step times. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

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
