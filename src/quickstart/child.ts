/**
 * Running one `wasmformers` subcommand as a child process, as a user would type it: the bundled
 * CLI (`dist/src/cli.js`) from the bundles, the TypeScript source under tsx from the source.
 * Its output comes back line by line, for the quick start to show, keep or drop.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository (or installed package) root: both src/quickstart/ and dist/<entry>/ sit two levels below it. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The program and leading arguments that start `wasmformers` like the running code was started. */
function cliPrefix(): string[] {
  if (!import.meta.url.endsWith('.ts')) return [join(PACKAGE_ROOT, 'dist', 'src', 'cli.js')];
  return ['--import', import.meta.resolve('tsx'), join(PACKAGE_ROOT, 'src', 'cli.ts')];
}

/** What a run of a subcommand printed, each stream cut into lines. */
export interface ChildOutput {
  stdout: string[];
  stderr: string[];
}

/** Calls `line` with each complete line of a stream, then the unterminated rest when it ends. */
function eachLine(stream: NodeJS.ReadableStream, line: (text: string) => void): Promise<void> {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk: string) => {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    for (const p of parts) line(p.replace(/\r$/, ''));
  });
  return new Promise((resolve) =>
    stream.on('end', () => {
      if (rest) line(rest);
      resolve();
    }),
  );
}

/**
 * Runs `wasmformers <argv>` in the current folder; `onLine` sees every stdout and stderr line as
 * it comes. Resolves with the lines when the command succeeds, rejects with its exit code
 * otherwise (its own error line has been seen by `onLine` by then). Ctrl-C reaches the child
 * too, which stops its work and removes its partial outputs.
 */
export async function runWasmformers(
  argv: string[],
  onLine: (line: string, stream: 'stdout' | 'stderr') => void,
): Promise<ChildOutput> {
  const child = spawn(process.execPath, [...cliPrefix(), ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out: ChildOutput = { stdout: [], stderr: [] };
  const done = Promise.all([
    eachLine(child.stdout, (l) => {
      out.stdout.push(l);
      onLine(l, 'stdout');
    }),
    eachLine(child.stderr, (l) => {
      out.stderr.push(l);
      onLine(l, 'stderr');
    }),
  ]);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (c) => resolve(c));
  });
  await done;
  if (code !== 0) throw new Error(`wasmformers ${argv[0]} ended with exit code ${code}`);
  return out;
}
