/** Runs `wasmformers` as users do, in a child process: the bundle (dist/src/cli.js) or the source under tsx. */
import { spawn } from 'node:child_process';

const root = new URL('../../', import.meta.url).pathname;

/** Exit code and output of one run. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** How to run: stdin text, the source instead of the bundle, and a hook that may signal the child while it runs. */
export interface CliOptions {
  input?: string;
  source?: boolean;
  during?: (kill: (signal: NodeJS.Signals) => void) => void;
}

/** Runs the CLI with args. */
export function runCli(args: string[], { input = '', source = false, during }: CliOptions = {}): Promise<CliResult> {
  const argv = source ? ['--import', 'tsx', 'src/cli.ts', ...args] : ['dist/src/cli.js', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, argv, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.on('data', (d) => {
      stdout += d;
    });
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code, sig) => resolve({ code, signal: sig, stdout, stderr }));
    during?.((sig) => child.kill(sig));
    child.stdin.end(input);
  });
}
