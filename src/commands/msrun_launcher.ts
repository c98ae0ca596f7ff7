/**
 * `wasmformers msrun_launcher "<command>" [WORKER_NUM ...]`: the seed's msrun_launcher.sh
 * (SPEC.md §7). The command (run_mindformer, as `run_mindformer` or `run_mindformer.py ...`)
 * runs as WORKER_NUM ranks, each a worker thread of this process; the four argument forms of
 * the seed are accepted, and a job across machines is refused with a message saying so. The job
 * holds its LOG_DIR (the lock of src/data/folder_lock.ts), so that a second job never truncates
 * the worker logs of a live one.
 */
import { basename, resolve } from 'node:path';
import type { WorkerOptions } from 'node:worker_threads';
import { lockFolder } from '../data/folder_lock.ts';
import { sweepTemporaries } from '../io/atomic.ts';
import { launch } from '../parallel/launcher.ts';
import { startWorker } from '../workers.ts';
import { commands } from './index.ts';
import { checkJob } from './run_mindformer.ts';
import { signalsAsAbort } from './signals.ts';

const USAGE =
  'Usage: msrun_launcher "<command>" [WORKER_NUM] | [WORKER_NUM MASTER_PORT LOG_DIR JOIN CLUSTER_TIME_OUT] | ' +
  '[WORKER_NUM LOCAL_WORKER MASTER_ADDR MASTER_PORT NODE_RANK LOG_DIR JOIN CLUSTER_TIME_OUT]';

/** The launcher's settings after the seed's defaults. */
interface LauncherArgs {
  command: string;
  workers: number;
  localWorkers: number;
  masterAddr: string;
  masterPort: number;
  nodeRank: number;
  logDir: string;
  join: boolean;
  timeoutS: number;
}

/** A whole number at least `min`, or an error in the seed's words. */
function count(name: string, text: string, min: number): number {
  if (!/^\d+$/.test(text)) throw new Error(`error: ${name}=${text} is not a number`);
  if (Number(text) < min) throw new Error(`error: ${name}=${text} must be at least ${min}`);
  return Number(text);
}

/** Reads the four argument forms (SPEC.md §7). */
export function parseLauncherArgs(argv: string[], say: (line: string) => void): LauncherArgs {
  const a: LauncherArgs = {
    command: argv[0] ?? '',
    workers: 8,
    localWorkers: 8,
    masterAddr: '127.0.0.1',
    masterPort: 8118,
    nodeRank: 0,
    logDir: 'output/msrun_log',
    join: false,
    timeoutS: 7200,
  };
  const tail = (i: number) => {
    a.logDir = argv[i];
    if (!/^(True|False|true|false)$/.test(argv[i + 1]))
      throw new Error(`error: join=${argv[i + 1]} must be True or False`);
    a.join = /^t/i.test(argv[i + 1]);
    a.timeoutS = count('cluster_time_out', argv[i + 2], 1);
  };
  switch (argv.length) {
    case 1:
      say('No parameter is entered. Notice that the program will run on default 8 cards. ');
      break;
    case 2:
      a.workers = a.localWorkers = count('worker_num', argv[1], 1);
      break;
    case 6:
      a.workers = a.localWorkers = count('worker_num', argv[1], 1);
      a.masterPort = count('master_port', argv[2], 1);
      tail(3);
      break;
    case 9:
      a.workers = count('worker_num', argv[1], 1);
      a.localWorkers = count('local_worker', argv[2], 1);
      a.masterAddr = argv[3];
      a.masterPort = count('master_port', argv[4], 1);
      a.nodeRank = count('node_rank', argv[5], 0);
      tail(6);
      break;
    default:
      throw new Error(USAGE);
  }
  if (!a.command.trim()) throw new Error(`no command given; ${USAGE}`);
  if (a.masterPort > 65535) throw new Error(`error: master_port=${a.masterPort} is not a port (1-65535)`);
  if (a.localWorkers > a.workers)
    throw new Error(`error: local_worker=${a.localWorkers} is more than worker_num=${a.workers}`);
  if (a.localWorkers !== a.workers || a.nodeRank !== 0) {
    throw new Error(
      `a job across machines (worker_num=${a.workers}, local_worker=${a.localWorkers}, node_rank=${a.nodeRank}, master ${a.masterAddr}) ` +
        'is not supported: wasmformers runs every rank as a thread of one process on one machine; give LOCAL_WORKER = WORKER_NUM and NODE_RANK 0',
    );
  }
  return a;
}

/** Splits a command line into words (single and double quotes group, backslash escapes). */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let word = '',
    quote = '',
    any = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === '\\' && quote === '"' && i + 1 < line.length) word += line[++i];
      else word += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      any = true;
    } else if (ch === '\\' && i + 1 < line.length) {
      word += line[++i];
      any = true;
    } else if (/\s/.test(ch)) {
      if (any) words.push(word);
      word = '';
      any = false;
    } else {
      word += ch;
      any = true;
    }
  }
  if (quote) throw new Error(`the command has an unterminated ${quote} quote: ${line}`);
  if (any) words.push(word);
  return words;
}

/** The subcommand and its arguments of a seed-style command line (`python run_mindformer.py --config ...`). */
export function rankCommand(line: string): { command: string; argv: string[] } {
  const words = splitWords(line);
  while (words.length && /^(python3?|node|npx|tsx|bun|deno)$/.test(basename(words[0]))) words.shift();
  const name = basename(words[0] ?? '').replace(/\.(py|ts|js|mjs)$/, '');
  if (!name || !(name in commands) || name === 'msrun_launcher') {
    throw new Error(
      `"${line}": the command must be a wasmformers command such as run_mindformer (got ${JSON.stringify(words[0] ?? '')})`,
    );
  }
  return { command: name, argv: words.slice(1) };
}

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const say = (line: string) => console.log(line);
  if (argv.length === 0) throw new Error(`No parameter is entered; ${USAGE}`);
  const a = parseLauncherArgs(argv, say);
  const { command, argv: rankArgv } = rankCommand(a.command);
  if (command === 'run_mindformer') checkJob(rankArgv, a.workers);
  say(
    `Running Command: msrun --worker_num=${a.workers} --local_worker_num=${a.localWorkers} --master_addr=${a.masterAddr} ` +
      `--master_port=${a.masterPort} --log_dir=${a.logDir} --join=${a.join ? 'True' : 'False'} --cluster_time_out=${a.timeoutS} ${a.command}`,
  );
  say(`Please check log files in ${resolve(a.logDir)}`);
  const release = lockFolder(a.logDir, 'LOG_DIR');
  // The folder is this job's now: what a killed launcher left half written there goes (the lock's own temporary among it).
  sweepTemporaries(a.logDir);
  const signals = signalsAsAbort();
  const startRank = (options: WorkerOptions) => startWorker('rank', import.meta.url, options);
  const failure = await launch({
    command,
    argv: rankArgv,
    workers: a.workers,
    logDir: a.logDir,
    timeoutS: a.timeoutS,
    say,
    startRank,
    stop: signals.stop,
  }).finally(() => {
    signals.release();
    release();
  });
  if (!failure) {
    say(`msrun_launcher: all ${a.workers} rank(s) finished`);
    return 0;
  }
  if (failure.signal) {
    console.error(`msrun_launcher: ${failure.message}; every rank was stopped`);
    return failure.signal === 'SIGINT' ? 130 : 143;
  }
  throw new Error(`rank ${failure.rank} failed: ${failure.message}; see ${failure.log}`);
}
