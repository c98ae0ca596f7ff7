/**
 * run_mindformer's command line (SPEC.md §6): `--config`, the named flags and where each one's
 * value goes, and nested overrides `--a.b.c value` of any existing key. `--name value` and
 * `--name=value` both work; `--predict_data` takes every value up to the next flag.
 */
import { nearest } from './merge.ts';

/** The named flags and the config path each one sets. */
export const RUN_FLAGS: Record<string, string> = {
  run_mode: 'run_mode',
  train_dataset_dir: 'train_dataset.data_loader.dataset_dir',
  eval_dataset_dir: 'eval_dataset.data_loader.dataset_dir',
  predict_data: 'predict_data',
  predict_batch_size: 'predict_batch_size',
  chat: 'chat',
  load_checkpoint: 'load_checkpoint',
  src_strategy_path_or_dir: 'src_strategy_path_or_dir',
  auto_trans_ckpt: 'auto_trans_ckpt',
  resume_training: 'resume_training',
  seed: 'seed',
  use_parallel: 'use_parallel',
  output_dir: 'output_dir',
  epochs: 'runner_config.epochs',
  batch_size: 'runner_config.batch_size',
  gradient_accumulation_steps: 'runner_config.gradient_accumulation_steps',
  num_samples: 'num_samples',
  do_sample: 'model.model_config.do_sample',
  profile: 'profile',
  device_target: 'device_target',
  stream_layers: 'stream_layers',
  threads: 'threads',
  activations: 'activations',
  dtype: 'model.model_config.param_init_type',
  // MindFormers' flags that set keys we keep but do not act on (a notice says so)
  sink_mode: 'runner_config.sink_mode',
  do_eval: 'do_eval',
  only_save_strategy: 'only_save_strategy',
  remote_save_url: 'remote_save_url',
  mode: 'context.mode',
  device_id: 'context.device_id',
};

/** Flags that are accepted for MindFormers' sake and have no effect here. */
const NO_EFFECT = new Set([
  'sink_mode',
  'do_eval',
  'only_save_strategy',
  'remote_save_url',
  'mode',
  'device_id',
  'register_path',
  'transform_process_num',
  'strategy_load_checkpoint',
  'modal_type',
  'adapter_id',
]);

/** Flags that take one or more values. */
const MULTI = new Set(['predict_data', 'modal_type', 'adapter_id', 'options']);

/** One value for one config path from the command line; `text` undefined means the flag stood alone. */
export interface Override {
  /** the flag as written, for messages */
  flag: string;
  path: string;
  text: string | string[] | undefined;
}

/** The command line taken apart: the config path, the named flags, then the nested overrides. */
export interface RunArgs {
  config?: string;
  named: Override[];
  nested: Override[];
}

/**
 * Splits run_mindformer's arguments. `topKeys` are the configuration's top-level keys (a flag
 * without a dot must be a named flag or one of them); `notice` gets one line per flag that has
 * no effect here.
 */
export function parseRunArgs(argv: string[], topKeys: string[], notice: (line: string) => void): RunArgs {
  const out: RunArgs = { named: [], nested: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg.length === 2)
      throw new Error(`unexpected argument '${arg}' (flags are --name value)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const flag = `--${name}`;
    const values: string[] = [];
    if (eq >= 0) values.push(arg.slice(eq + 1));
    else
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--') && (MULTI.has(name) || values.length === 0))
        values.push(argv[++i]);
    if (name === 'config') {
      if (values[0] === undefined) throw new Error('--config needs a YAML file');
      out.config = values[0];
    } else if (name === 'options') {
      // MindFormers' --options key=value ...: nested overrides
      for (const kv of values) {
        const at = kv.indexOf('=');
        if (at <= 0) throw new Error(`--options takes key=value pairs, got '${kv}'`);
        out.nested.push({ flag: `--options ${kv.slice(0, at)}`, path: kv.slice(0, at), text: kv.slice(at + 1) });
      }
    } else if (name === 'predict_data') {
      if (values.length === 0) throw new Error('--predict_data needs one or more prompts');
      // as run_mindformer does, a typed \n is a newline
      out.named.push({ flag, path: RUN_FLAGS[name], text: values.map((v) => v.replaceAll('\\n', '\n')) });
    } else if (NO_EFFECT.has(name)) {
      notice(`run_mindformer: ${flag} has no effect here (accepted for MindFormers' command lines)`);
      if (Object.hasOwn(RUN_FLAGS, name)) out.named.push({ flag, path: RUN_FLAGS[name], text: values[0] });
    } else if (Object.hasOwn(RUN_FLAGS, name)) {
      out.named.push({ flag, path: RUN_FLAGS[name], text: values[0] });
    } else if (name.includes('.') || topKeys.includes(name)) {
      out.nested.push({ flag, path: name, text: values[0] });
    } else {
      const near = nearest(name, [...Object.keys(RUN_FLAGS), ...topKeys, 'config', 'options']);
      throw new Error(
        `unknown flag ${flag} (neither a run_mindformer flag nor a config key${near ? `; did you mean --${near}?` : ''})`,
      );
    }
  }
  return out;
}
