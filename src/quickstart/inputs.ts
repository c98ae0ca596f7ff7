/**
 * The quick start's inputs, each opened and checked before the previous run's outputs are
 * removed, so that a bad one stops the run with one line naming it and leaves those outputs as
 * they were: the configs, the tokenizer, the Alpaca data (split when no held-out file is given),
 * the pre-training text and the checkpoint (its tensors against the fine-tuning config's model).
 * A tokenizer with a chat template (in the tokenizer_config.json beside it) is kept, since the
 * quick start then tokenizes and prompts through that template.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { checkBaseTensors, openCheckpoint } from '../checkpoint/load.ts';
import { loadRunConfig } from '../config/load.ts';
import { configFromMindFormers, type LlamaConfig } from '../model/config.ts';
import { baseTensorList } from '../model/weights.ts';
import { findChatTemplate, loadTokenizer } from '../tokenizer/load.ts';
import type { ChatTemplate } from '../tokenizer/chat_template.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import type { QuickstartOptions } from './options.ts';
import { readAlpaca, splitHeldOut, type AlpacaRecord } from './records.ts';

/** What the run takes from its checked inputs. */
export interface CheckedInputs {
  /** model.model_config.seq_length of the fine-tuning config, and of the pre-training config (0: no pre-training) */
  seq: number;
  trainSeq: number;
  /** the held-out records; `split` holds both parts when they were split off --data_path */
  heldOut: AlpacaRecord[];
  split?: { train: AlpacaRecord[]; heldOut: AlpacaRecord[] };
  /** the --model_file tokenizer and its chat template, when it has one */
  chat: { template: ChatTemplate; tokenizer: Tokenizer } | null;
}

/** Opens and checks every input of `o`; see the file comment. */
export async function checkInputs(o: QuickstartOptions): Promise<CheckedInputs> {
  const fineTune = modelOf(o.config);
  const trainSeq = o.loadCheckpoint ? 0 : modelOf(o.trainConfig).seq;
  const loaded = await loadTokenizer(o.modelFile);
  const template = o.modelFile ? await findChatTemplate(loaded) : 'the built-in Llama 2 tokenizer has no chat template';
  const chat = typeof template === 'string' ? null : { template, tokenizer: loaded.tokenizer };
  const records = await readAlpaca(o.dataPath);
  const split = o.heldOutPath ? undefined : splitHeldOut(records, o.heldOut, o.dataPath);
  const heldOut = o.heldOutPath ? await readAlpaca(o.heldOutPath) : split!.heldOut;
  if (o.loadCheckpoint) checkCheckpoint(o.loadCheckpoint, fineTune.model);
  else checkText(o.pretrainPath);
  return { seq: fineTune.seq, trainSeq, heldOut, split, chat };
}

/** A run config's model (checked) and seq_length; errors name the file and key. */
function modelOf(configPath: string): { model: LlamaConfig; seq: number } {
  const modelConfig = loadRunConfig(configPath, [], () => {}).model.model_config;
  return {
    model: configFromMindFormers(modelConfig, `${configPath}: model.model_config`),
    seq: modelConfig.seq_length,
  };
}

/** The checkpoint opens, and holds every base tensor of `model` in its shape. */
function checkCheckpoint(path: string, model: LlamaConfig): void {
  const ckpt = openCheckpoint(path, model);
  try {
    checkBaseTensors(ckpt, baseTensorList(model));
  } finally {
    ckpt.weights.close();
  }
}

/** The pre-training text can be read and is not empty. */
function checkText(path: string): void {
  const fd = openSync(path, 'r');
  try {
    if (readSync(fd, new Uint8Array(1), 0, 1, 0) === 0) throw new Error(`${path}: empty; the pre-training needs text`);
  } finally {
    closeSync(fd);
  }
}
