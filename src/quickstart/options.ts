/**
 * The quick start's flags: none for the built-in run; a user's own Alpaca data, tokenizer,
 * checkpoint and config otherwise; and the knobs that shorten a run (tests). Every problem is
 * one line naming the flag.
 */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseFlags, type FlagSpec } from '../commands/flags.ts';
import { PACKAGE_ROOT } from './child.ts';

/** Everything a quick start run needs, defaults filled in. */
export interface QuickstartOptions {
  /** Alpaca-format records to fine-tune on */
  dataPath: string;
  /** Alpaca-format records to evaluate and prompt with; undefined: the last `heldOut` records of dataPath */
  heldOutPath?: string;
  heldOut: number;
  /** SentencePiece tokenizer.model; undefined: Llama 2's built-in one */
  modelFile?: string;
  /** checkpoint to fine-tune; undefined: pre-train one first */
  loadCheckpoint?: string;
  /** plain text and config of the pre-training (when there is no checkpoint) */
  pretrainPath: string;
  trainConfig: string;
  /** the fine-tuning config */
  config: string;
  /** ranks of each msrun_launcher job */
  workers: number;
  /** overrides of the configs' epochs (0: the config's) and of the records fine-tuned on (0: all) */
  epochs: number;
  pretrainEpochs: number;
  numSamples: number;
  /** held-out prompts to answer and score, before and after (undefined: every held-out record) */
  prompts?: number;
}

/** The built-in files, beside the code. */
const BUILT_IN = {
  data: join(PACKAGE_ROOT, 'quickstart', 'alpaca_sample.json'),
  heldOut: join(PACKAGE_ROOT, 'quickstart', 'alpaca_heldout.json'),
  pretrain: join(PACKAGE_ROOT, 'quickstart', 'pretrain.txt'),
  trainConfig: join(PACKAGE_ROOT, 'configs', 'llama2', 'quickstart_train.yaml'),
  config: join(PACKAGE_ROOT, 'configs', 'llama2', 'quickstart_lora.yaml'),
};

const SPEC: FlagSpec = {
  data_path: { kind: 'string' },
  heldout_path: { kind: 'string' },
  heldout: { kind: 'number', default: 50 },
  model_file: { kind: 'string' },
  load_checkpoint: { kind: 'string' },
  pretrain_path: { kind: 'string' },
  train_config: { kind: 'string' },
  config: { kind: 'string' },
  worker_num: { kind: 'number', default: 2 },
  epochs: { kind: 'number', default: 0 },
  pretrain_epochs: { kind: 'number', default: 0 },
  num_samples: { kind: 'number', default: 0 },
  prompts: { kind: 'number' },
};

/** One line of help per flag, for `--help`. */
export const QUICKSTART_USAGE = [
  'usage: wasmformers quickstart [--data_path alpaca_data.json] [--heldout_path F | --heldout N] [--model_file tokenizer.model|tokenizer.json|folder]',
  '         [--load_checkpoint P | --pretrain_path text.txt --train_config Y] [--config Y] [--worker_num N]',
  '         [--epochs N] [--pretrain_epochs N] [--num_samples N] [--prompts N]',
  'Without flags: the built-in sample, pre-training a tiny Llama, then LoRA fine-tuning on 2 ranks.',
].join('\n');

/** A file or folder that must exist, named by its flag. */
function existing(flag: string, path: string, kind: 'file' | 'any'): string {
  if (!existsSync(path)) throw new Error(`--${flag} ${path}: no such ${kind === 'file' ? 'file' : 'file or folder'}`);
  if (kind === 'file' && !statSync(path).isFile()) throw new Error(`--${flag} ${path}: is a folder, not a file`);
  return path;
}

/** A whole number at least `min`, named by its flag. */
function whole(flag: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min)
    throw new Error(`--${flag} takes a whole number of at least ${min}, got ${value}`);
  return value;
}

/** Parses the quick start's flags; see the file comment. */
export function parseQuickstartArgs(argv: string[]): QuickstartOptions {
  const f = parseFlags(argv, SPEC);
  const str = (name: string, kind: 'file' | 'any' = 'file') =>
    f[name] === undefined ? undefined : existing(name, f[name] as string, kind);
  const dataPath = str('data_path');
  const loadCheckpoint = str('load_checkpoint', 'any');
  if (loadCheckpoint && (f.pretrain_path !== undefined || f.train_config !== undefined || f.pretrain_epochs !== 0)) {
    throw new Error(
      '--pretrain_path, --train_config and --pretrain_epochs set the pre-training, which --load_checkpoint skips: give one or the other',
    );
  }
  if (f.heldout_path !== undefined && argv.some((a) => a === '--heldout' || a.startsWith('--heldout='))) {
    throw new Error(
      '--heldout (records split off --data_path) and --heldout_path (a held-out file) exclude each other',
    );
  }
  return {
    dataPath: dataPath ?? BUILT_IN.data,
    // The built-in sample has its own held-out file; a user's data is split unless one is given.
    heldOutPath: str('heldout_path') ?? (dataPath ? undefined : BUILT_IN.heldOut),
    heldOut: whole('heldout', f.heldout as number, 1),
    modelFile: str('model_file', 'any'),
    loadCheckpoint,
    pretrainPath: str('pretrain_path') ?? BUILT_IN.pretrain,
    trainConfig: str('train_config') ?? BUILT_IN.trainConfig,
    config: str('config') ?? BUILT_IN.config,
    workers: whole('worker_num', f.worker_num as number, 1),
    epochs: whole('epochs', f.epochs as number, 0),
    pretrainEpochs: whole('pretrain_epochs', f.pretrain_epochs as number, 0),
    numSamples: whole('num_samples', f.num_samples as number, 0),
    prompts: f.prompts === undefined ? undefined : whole('prompts', f.prompts as number, 0),
  };
}
