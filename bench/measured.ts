/** Running the bundled CLI as a benchmark step: its output, wall time and peak resident memory. */
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

/** Runs `wasmformers args...` in `cwd` under /usr/bin/time. */
export function measuredCli(cwd: string, args: string[]): Measured {
  const stats = join(cwd, 'time.txt'), t0 = performance.now();
  const stdout = execFileSync('/usr/bin/time', ['-f', '%M', '-o', stats, process.execPath, CLI, ...args], { encoding: 'utf8', cwd, maxBuffer: 1 << 26 });
  return { stdout, seconds: (performance.now() - t0) / 1000, rssBytes: Number(readFileSync(stats, 'utf8').trim().split('\n').at(-1)) * 1024 };
}
