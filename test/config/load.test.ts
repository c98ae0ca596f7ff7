/**
 * The run configuration: the shipped YAMLs load, the seed's values are SPEC.md §5's (written out
 * by hand), flags and nested overrides apply with YAML scalar typing, anchors work, and every
 * bad input gives its one line.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultRunConfig } from '../../src/config/defaults.ts';
import { configSummary } from '../../src/config/describe.ts';
import { loadRunConfig } from '../../src/config/load.ts';
import { configFromMindFormers } from '../../src/model/config.ts';

const CONFIGS = new URL('../../configs/llama2/', import.meta.url).pathname;
const SEED = join(CONFIGS, 'lora_llama2_7b.yaml');
const dir = mkdtempSync(join(tmpdir(), 'wasmformers-config-'));

/** Writes a YAML file into the temporary folder and returns its path. */
function yamlFile(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Loads with the given overrides, collecting notices. */
function load(path: string | undefined, overrides: string[] = []) {
  const notices: string[] = [];
  const config = loadRunConfig(path, overrides, (l) => notices.push(l));
  return { config, notices };
}

/** Asserts that loading throws exactly `message`. */
function fails(path: string | undefined, overrides: string[], message: string): void {
  assert.throws(
    () => load(path, overrides),
    (err: Error) => {
      assert.equal(err.message, message);
      return true;
    },
  );
}

describe('shipped configs', () => {
  const files = readdirSync(CONFIGS)
    .filter((f) => f.endsWith('.yaml'))
    .sort();

  it('ships the seed three and the CPU-sized ones', () => {
    assert.deepEqual(files, [
      'llama2_7b.yaml',
      'lora_llama2_7b.yaml',
      'lora_stories110m.yaml',
      'lora_stories15m.yaml',
      'lora_tiny.yaml',
      'predict_llama2_7b.yaml',
      'quickstart_lora.yaml',
      'quickstart_train.yaml',
      'train_tiny.yaml',
    ]);
  });

  for (const f of files) {
    it(`${f} loads, has a header comment, and its model block reads as a Llama`, () => {
      assert.match(readFileSync(join(CONFIGS, f), 'utf8'), /^# \S/);
      const { config } = load(join(CONFIGS, f));
      const m = configFromMindFormers(config.model.model_config, f);
      assert.ok(m.dim > 0 && m.maxSeqLen === config.model.model_config.seq_length);
    });
  }

  it('lora_llama2_7b.yaml holds the seed values of SPEC.md §5', () => {
    const { config: c } = load(SEED);
    assert.equal(c.seed, 0);
    assert.equal(c.output_dir, './output');
    assert.equal(c.run_mode, 'finetune');
    assert.equal(c.load_checkpoint, '');
    assert.equal(c.auto_trans_ckpt, false);
    assert.equal(c.resume_training, false);
    assert.equal(c.use_parallel, true);
    assert.deepEqual(c.runner_config, {
      epochs: 2,
      batch_size: 2,
      sink_mode: true,
      sink_size: 1,
      gradient_accumulation_steps: 1,
    });
    assert.deepEqual(c.optimizer, {
      type: 'FP32StateAdamWeightDecay',
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weight_decay: 0,
      learning_rate: 1e-5,
    });
    assert.deepEqual(c.lr_schedule, {
      type: 'CosineWithWarmUpLR',
      learning_rate: 1e-5,
      lr_end: 0,
      warmup_ratio: 0.03,
      warmup_steps: 0,
      total_steps: -1,
    });
    assert.equal(c.train_dataset.data_loader.shuffle, true);
    assert.deepEqual(c.train_dataset.input_columns, ['input_ids', 'labels']);
    assert.equal(c.train_dataset.drop_remainder, true);
    assert.deepEqual(c.parallel_config, {
      data_parallel: 8,
      model_parallel: 1,
      pipeline_stage: 1,
      use_seq_parallel: false,
      micro_batch_num: 1,
      vocab_emb_dp: true,
      gradient_aggregation_group: 4,
    });
    assert.equal(c.recompute_config.recompute, false);
    assert.deepEqual(c.runner_wrapper, {
      type: 'MFTrainOneStepCell',
      scale_sense: 1,
      use_clip_grad: true,
      max_grad_norm: 1,
    });
    assert.deepEqual(
      c.callbacks.map((cb) => cb.type),
      ['MFLossMonitor', 'CheckpointMonitor', 'ObsMonitor'],
    );
    assert.deepEqual(c.callbacks[1], {
      type: 'CheckpointMonitor',
      prefix: 'llama_7b_lora',
      save_checkpoint_steps: 100,
      keep_checkpoint_max: 5,
      integrated_save: false,
      async_save: false,
      checkpoint_format: 'safetensors',
    });
    const m = c.model.model_config;
    assert.deepEqual(
      [
        m.seq_length,
        m.hidden_size,
        m.num_layers,
        m.num_heads,
        m.vocab_size,
        m.multiple_of,
        m.rms_norm_eps,
        m.theta,
        m.bos_token_id,
        m.eos_token_id,
        m.pad_token_id,
        m.ignore_token_id,
      ],
      [4096, 4096, 32, 32, 32000, 256, 1e-5, 10000, 1, 2, 0, -100],
    );
    assert.deepEqual(
      [
        m.compute_dtype,
        m.param_init_type,
        m.use_past,
        m.top_k,
        m.top_p,
        m.do_sample,
        m.repetition_penalty,
        m.max_decode_length,
        m.temperature,
      ],
      ['bfloat16', 'float32', false, 3, 1, false, 1, 512, 1],
    );
    assert.deepEqual(m.pet_config, {
      pet_type: 'lora',
      lora_rank: 16,
      lora_alpha: 16,
      lora_dropout: 0.05,
      target_modules: '.*wq|.*wk|.*wv|.*wo',
    });
    assert.equal(c.device_target, 'auto');
    assert.deepEqual([c.predict_data, c.predict_batch_size, c.num_samples, c.profile], [[], 1, 0, false]);
  });

  it('the defaults are the seed file, ignored keys included', () => {
    assert.deepEqual(load(SEED).config, defaultRunConfig());
    assert.deepEqual(load(undefined).config, defaultRunConfig());
  });

  it('the CPU-sized configs have the shapes they are named after', () => {
    const shape = (f: string) => {
      const { config: c } = load(join(CONFIGS, f));
      const m = configFromMindFormers(c.model.model_config, f);
      return [
        m.dim,
        m.nLayers,
        m.nHeads,
        m.ffnDim,
        m.vocabSize,
        m.maxSeqLen,
        c.runner_config.batch_size,
        c.parallel_config.data_parallel,
        c.run_mode,
        c.model.model_config.pet_config?.lora_rank,
      ];
    };
    assert.deepEqual(shape('lora_stories15m.yaml'), [288, 6, 6, 768, 32000, 256, 8, 1, 'finetune', 16]);
    assert.deepEqual(shape('lora_stories110m.yaml'), [768, 12, 12, 2048, 32000, 256, 4, 1, 'finetune', 16]);
    assert.deepEqual(shape('train_tiny.yaml'), [64, 2, 4, 192, 32000, 256, 8, 1, 'train', undefined]);
    assert.deepEqual(shape('lora_tiny.yaml'), [64, 2, 4, 192, 32000, 256, 8, 1, 'finetune', 8]);
    assert.equal(
      load(join(CONFIGS, 'lora_stories15m.yaml')).config.model.model_config.pet_config?.target_modules,
      '.*wq|.*wk|.*wv|.*wo',
    );
    assert.equal(load(join(CONFIGS, 'predict_llama2_7b.yaml')).config.use_parallel, false);
  });
});

describe('merging', () => {
  it('passes model_config keys through, MindFormers-only ones included', () => {
    const path = yamlFile(
      'mc.yaml',
      'model:\n  model_config:\n    hidden_size: 64\n    num_heads: 4\n    n_kv_heads: 2\n    intermediate_size: 100\n    use_flash_attention: False\n    extend_method: "NTK"\n',
    );
    const m = load(path).config.model.model_config;
    assert.deepEqual(
      [m.hidden_size, m.num_heads, m.n_kv_heads, m.intermediate_size, m.use_flash_attention, m.extend_method],
      [64, 4, 2, 100, false, 'NTK'],
    );
    assert.equal(m.num_layers, 32); // not in the file: the default
  });

  it('has LoRA only where the model_config block has a pet_config, as in MindFormers', () => {
    assert.equal(
      load(yamlFile('full.yaml', 'model:\n  model_config:\n    hidden_size: 64\n')).config.model.model_config
        .pet_config,
      undefined,
    );
    assert.equal(load(yamlFile('nomodel.yaml', 'seed: 3\n')).config.model.model_config.pet_config?.lora_rank, 16);
    assert.equal(
      load(SEED, ['--model.model_config.pet_config', 'null']).config.model.model_config.pet_config,
      undefined,
    );
    const partial = load(yamlFile('pet.yaml', 'model:\n  model_config:\n    pet_config:\n      lora_rank: 4\n')).config
      .model.model_config.pet_config;
    assert.deepEqual(partial, {
      pet_type: 'lora',
      lora_rank: 4,
      lora_alpha: 16,
      lora_dropout: 0.05,
      target_modules: '.*wq|.*wk|.*wv|.*wo',
    });
    const added = load(join(CONFIGS, 'train_tiny.yaml'), ['--model.model_config.pet_config.lora_rank', '2']).config
      .model.model_config.pet_config;
    assert.equal(added?.lora_rank, 2);
  });

  it('resolves YAML anchors, aliases and merge keys', () => {
    const path = yamlFile(
      'anchors.yaml',
      [
        'train_dataset: &train_dataset',
        '  data_loader:',
        '    dataset_dir: "shards"',
        '  batch_size: 3',
        'train_dataset_task:',
        '  type: CausalLanguageModelDataset',
        '  dataset_config: *train_dataset',
        'eval_dataset:',
        '  <<: *train_dataset',
        '  repeat: 2',
      ].join('\n'),
    );
    const c = load(path).config;
    assert.equal(c.train_dataset.data_loader.dataset_dir, 'shards');
    assert.deepEqual((c.train_dataset_task.dataset_config as { batch_size: number }).batch_size, 3);
    assert.deepEqual(
      [c.eval_dataset.data_loader.dataset_dir, c.eval_dataset.batch_size, c.eval_dataset.repeat],
      ['shards', 3, 2],
    );
    assert.equal(c.eval_dataset.data_loader.shuffle, false); // the alias brought no shuffle key: the default stays
  });

  it('completes callbacks from their class defaults and reads the old CheckpointMointor spelling', () => {
    const path = yamlFile('cb.yaml', 'callbacks:\n  - type: CheckpointMointor\n    prefix: x\n');
    assert.deepEqual(load(path).config.callbacks, [
      {
        type: 'CheckpointMonitor',
        prefix: 'x',
        save_checkpoint_steps: 1,
        keep_checkpoint_max: 5,
        integrated_save: true,
        async_save: false,
        checkpoint_format: 'safetensors',
      },
    ]);
  });

  it('keeps the content of ignored blocks as written', () => {
    const path = yamlFile(
      'ctx.yaml',
      'context:\n  mode: 1\n  anything: [1, 2]\nparallel:\n  strategy_ckpt_save_file: "./s.ckpt"\n',
    );
    const c = load(path).config;
    assert.deepEqual([c.context.mode, c.context.anything, c.context.device_target], [1, [1, 2], 'Ascend']);
    assert.equal(c.parallel.strategy_ckpt_save_file, './s.ckpt');
  });
});

describe('command-line overrides', () => {
  it('applies the named flags of SPEC.md §6 where MindFormers puts them', () => {
    const { config: c } = load(SEED, [
      '--run_mode',
      'eval',
      '--train_dataset_dir',
      'tr',
      '--eval_dataset_dir',
      'ev',
      '--predict_batch_size',
      '2',
      '--load_checkpoint',
      'ck',
      '--src_strategy_path_or_dir',
      'st',
      '--auto_trans_ckpt',
      'True',
      '--resume_training',
      'False',
      '--seed',
      '42',
      '--use_parallel',
      'False',
      '--output_dir',
      'out',
      '--epochs',
      '3',
      '--batch_size',
      '4',
      '--gradient_accumulation_steps',
      '5',
      '--num_samples',
      '6',
      '--do_sample',
      'True',
      '--profile',
      'True',
      '--device_target',
      'simd',
    ]);
    assert.deepEqual(
      [
        c.run_mode,
        c.train_dataset.data_loader.dataset_dir,
        c.eval_dataset.data_loader.dataset_dir,
        c.predict_batch_size,
        c.load_checkpoint,
        c.src_strategy_path_or_dir,
        c.auto_trans_ckpt,
        c.resume_training,
        c.seed,
        c.use_parallel,
        c.output_dir,
      ],
      ['eval', 'tr', 'ev', 2, 'ck', 'st', true, false, 42, false, 'out'],
    );
    assert.deepEqual(
      [
        c.runner_config.epochs,
        c.runner_config.batch_size,
        c.runner_config.gradient_accumulation_steps,
        c.num_samples,
        c.model.model_config.do_sample,
        c.profile,
        c.device_target,
      ],
      [3, 4, 5, 6, true, true, 'simd'],
    );
  });

  it('reads values as YAML scalars, and as text where the key takes text', () => {
    const { config: c } = load(SEED, [
      '--lr_schedule.learning_rate',
      '1.e-4',
      '--optimizer.eps=1e-6',
      '--recompute_config.recompute',
      'true',
      '--output_dir',
      '123',
      '--load_checkpoint',
      '',
      '--resume_training',
      'llama_7b_lora_rank_0-1_100.safetensors',
      '--model.model_config.pet_config.target_modules',
      '[wq, wv]',
      '--model.model_config.n_kv_heads',
      '8',
    ]);
    assert.equal(c.lr_schedule.learning_rate, 1e-4);
    assert.equal(c.optimizer.eps, 1e-6);
    assert.equal(c.recompute_config.recompute, true);
    assert.equal(c.output_dir, '123');
    assert.equal(c.load_checkpoint, '');
    assert.equal(c.resume_training, 'llama_7b_lora_rank_0-1_100.safetensors');
    assert.deepEqual(c.model.model_config.pet_config?.target_modules, ['wq', 'wv']);
    assert.equal(c.model.model_config.n_kv_heads, 8);
  });

  it('takes several --predict_data prompts, a flag alone as True, and list positions', () => {
    const { config: c } = load(undefined, [
      '--config',
      SEED,
      '--predict_data',
      'I love Beijing,',
      'because\\nit',
      '--resume_training',
      '--do_sample',
      '--callbacks.1.save_checkpoint_steps',
      '10',
      '--context.device_id',
      '3',
    ]);
    assert.deepEqual(c.predict_data, ['I love Beijing,', 'because\nit']);
    assert.equal(c.resume_training, true);
    assert.equal(c.model.model_config.do_sample, true);
    assert.equal(c.callbacks[1].type === 'CheckpointMonitor' && c.callbacks[1].save_checkpoint_steps, 10);
    assert.equal(c.context.device_id, 3);
  });

  it('applies nested overrides after the named flags, and --options as nested overrides', () => {
    assert.equal(load(SEED, ['--runner_config.epochs', '5', '--epochs', '3']).config.runner_config.epochs, 5);
    assert.equal(load(SEED, ['--options', 'runner_config.epochs=7', 'seed=9']).config.seed, 9);
  });

  it('accepts MindFormers flags that do nothing here with a one-line notice', () => {
    const { config, notices } = load(SEED, [
      '--register_path',
      'research/x',
      '--sink_mode',
      'False',
      '--modal_type',
      'text',
      'image',
    ]);
    assert.deepEqual(notices, [
      "run_mindformer: --register_path has no effect here (accepted for MindFormers' command lines)",
      "run_mindformer: --sink_mode has no effect here (accepted for MindFormers' command lines)",
      "run_mindformer: --modal_type has no effect here (accepted for MindFormers' command lines)",
    ]);
    assert.equal(config.runner_config.sink_mode, false);
  });
});

describe('errors: one line naming the file or flag and the key', () => {
  it('an unknown key in a file or a nested flag, or an unknown flag', () => {
    fails(
      yamlFile('lora.yaml', 'runner_config:\n  epoch: 3\n'),
      [],
      `${join(dir, 'lora.yaml')}: unknown key runner_config.epoch (did you mean runner_config.epochs?)`,
    );
    fails(
      yamlFile('k.yaml', 'model:\n  model_config:\n    hiden_size: 8\n'),
      [],
      `${join(dir, 'k.yaml')}: unknown key model.model_config.hiden_size (did you mean model.model_config.hidden_size?)`,
    );
    fails(yamlFile('k2.yaml', 'wibble: 1\n'), [], `${join(dir, 'k2.yaml')}: unknown key wibble`);
    fails(
      SEED,
      ['--runner_config.epoch', '3'],
      '--runner_config.epoch: unknown key runner_config.epoch (did you mean runner_config.epochs?)',
    );
    fails(
      SEED,
      ['--epoch', '3'],
      'unknown flag --epoch (neither a run_mindformer flag nor a config key; did you mean --epochs?)',
    );
    fails(
      SEED,
      ['--callbacks.1.prefixx', 'a'],
      '--callbacks.1.prefixx: unknown key callbacks.1.prefixx (did you mean callbacks.1.prefix?)',
    );
  });

  it('a value of the wrong kind names the path, the expected kind and the value', () => {
    fails(
      yamlFile('t.yaml', 'runner_config:\n  epochs: two\n'),
      [],
      `${join(dir, 't.yaml')}: runner_config.epochs: expected an integer, got 'two'`,
    );
    fails(
      yamlFile('t2.yaml', 'use_parallel: 1\n'),
      [],
      `${join(dir, 't2.yaml')}: use_parallel: expected True or False, got 1`,
    );
    fails(
      yamlFile('t3.yaml', 'runner_config: 3\n'),
      [],
      `${join(dir, 't3.yaml')}: runner_config: expected a mapping of keys, got 3`,
    );
    fails(SEED, ['--epochs', 'two'], "--epochs: expected an integer, got 'two'");
    fails(SEED, ['--seed', '1.5'], '--seed: expected an integer, got 1.5');
    fails(SEED, ['--epochs'], '--epochs needs a value');
    fails(
      yamlFile(
        'ss.yaml',
        'runner_wrapper:\n  scale_sense:\n    type: DynamicLossScaleUpdateCell\n    loss_scale_value: 65536\n',
      ),
      [],
      `${join(dir, 'ss.yaml')}: runner_wrapper.scale_sense: expected a number, got {"type":"DynamicLossScaleUpdateCell","loss_scale_value":65536} ` +
        '(training runs in float32 and needs no loss-scale cell: write a number such as 1.0)',
    );
  });

  it('a value outside its choices or its range', () => {
    fails(SEED, ['--run_mode', 'finetun'], "unknown --run_mode 'finetun' (train, finetune, eval, predict)");
    fails(
      yamlFile('e.yaml', "run_mode: 'finetun'\n"),
      [],
      `${join(dir, 'e.yaml')}: unknown run_mode 'finetun' (train, finetune, eval, predict)`,
    );
    fails(
      SEED,
      ['--optimizer.type', 'SGD'],
      "unknown --optimizer.type 'SGD' (FP32StateAdamWeightDecay, AdamWeightDecay, AdamW)",
    );
    fails(
      SEED,
      ['--lr_schedule.type', 'Cosine'],
      "unknown --lr_schedule.type 'Cosine' (CosineWithWarmUpLR, LinearWithWarmUpLR, ConstantWarmUpLR)",
    );
    fails(SEED, ['--device_target', 'Ascend'], "unknown --device_target 'Ascend' (auto, relaxed, simd)");
    fails(
      yamlFile('cbt.yaml', 'callbacks:\n  - type: SummaryMonitor\n'),
      [],
      `${join(dir, 'cbt.yaml')}: unknown callbacks.0.type 'SummaryMonitor' (MFLossMonitor, CheckpointMonitor, ObsMonitor)`,
    );
    fails(SEED, ['--batch_size', '0'], '--batch_size must be at least 1, got 0');
    fails(
      SEED,
      ['--lr_schedule.warmup_ratio', '1'],
      '--lr_schedule.warmup_ratio must be at least 0 and less than 1, got 1',
    );
    fails(
      SEED,
      ['--model.model_config.pet_config.lora_rank', '0'],
      '--model.model_config.pet_config.lora_rank must be at least 1, got 0',
    );
    fails(
      yamlFile('r.yaml', 'model:\n  model_config:\n    top_p: 0\n'),
      [],
      `${join(dir, 'r.yaml')}: model.model_config.top_p must be more than 0 and at most 1, got 0`,
    );
  });

  it("names YAML's .nan and .inf as written, not as null", () => {
    fails(
      yamlFile('nan.yaml', 'lr_schedule:\n  learning_rate: .nan\n'),
      [],
      `${join(dir, 'nan.yaml')}: lr_schedule.learning_rate: expected a number, got .nan`,
    );
    fails(
      yamlFile('inf.yaml', 'optimizer:\n  eps: -.Inf\n'),
      [],
      `${join(dir, 'inf.yaml')}: optimizer.eps: expected a number, got -.inf`,
    );
    fails(SEED, ['--epochs', '.inf'], '--epochs: expected an integer, got .inf');
  });

  it('refuses a checkpoint prefix that would put files outside the checkpoint folder', () => {
    const why = "must be a file name prefix, without '/' or '\\' (checkpoints stay in output_dir/checkpoint/rank_<r>)";
    fails(SEED, ['--callbacks.1.prefix', '../escaped'], `--callbacks.1.prefix ${why}, got '../escaped'`);
    fails(
      yamlFile('pfx.yaml', 'callbacks:\n  - type: CheckpointMonitor\n    prefix: a/b\n'),
      [],
      `${join(dir, 'pfx.yaml')}: callbacks.0.prefix ${why}, got 'a/b'`,
    );
    fails(SEED, ['--callbacks.1.prefix', 'x\\..\\y'], `--callbacks.1.prefix ${why}, got 'x\\..\\y'`);
    assert.deepEqual(load(SEED, ['--callbacks.1.prefix', 'llama..v2']).config.callbacks[1], {
      ...load(SEED).config.callbacks[1],
      prefix: 'llama..v2',
    });
  });

  it('a missing, unreadable or malformed file', () => {
    fails(join(dir, 'missing.yaml'), [], `${join(dir, 'missing.yaml')}: no such config file`);
    mkdirSync(join(dir, 'folder.yaml'), { recursive: true });
    fails(join(dir, 'folder.yaml'), [], `${join(dir, 'folder.yaml')}: is a folder, not a YAML config file`);
    fails(
      yamlFile('bad.yaml', 'seed: 0\nrunner_config: [1\nepochs: 2\n'),
      [],
      `${join(dir, 'bad.yaml')}: invalid YAML at line 3, column 1: Flow sequence in block collection must be sufficiently indented and end with a ]`,
    );
    fails(
      yamlFile('dup.yaml', 'seed: 0\nseed: 1\n'),
      [],
      `${join(dir, 'dup.yaml')}: invalid YAML at line 2, column 1: Map keys must be unique`,
    );
    fails(
      yamlFile('list.yaml', '- 1\n'),
      [],
      `${join(dir, 'list.yaml')}: expected a mapping of config keys at the top, got a list`,
    );
  });

  it('command-line shape', () => {
    fails(SEED, ['finetune'], "unexpected argument 'finetune' (flags are --name value)");
    fails(
      SEED,
      ['--config', join(CONFIGS, 'lora_tiny.yaml')],
      `two configs given: '${SEED}' and --config '${join(CONFIGS, 'lora_tiny.yaml')}'`,
    );
    fails(SEED, ['--predict_data'], '--predict_data needs one or more prompts');
    fails(SEED, ['--options', 'seed'], "--options takes key=value pairs, got 'seed'");
    fails(SEED, ['--callbacks.7.prefix', 'x'], '--callbacks.7.prefix: 7 is not an index of a list of 3');
  });
});

describe('configSummary', () => {
  it('shows the key settings of a fine-tuning run and of a prediction run', () => {
    const train = configSummary(load(SEED, ['--train_dataset_dir', 'alpaca-fastchat4096']).config);
    assert.match(train, /^run_mode finetune, seed 0, output_dir \.\/output/);
    assert.match(train, /LoRA rank 16, alpha 16, dropout 0\.05, on \.\*wq\|\.\*wk\|\.\*wv\|\.\*wo/);
    assert.match(train, /batch 2 per rank × 8 rank\(s\) × 1 accumulation = 16 per step/);
    assert.match(train, /CosineWithWarmUpLR 1e-5 → 0, 3% warm-up; clip global norm 1/);
    assert.match(train, /data: alpaca-fastchat4096/);
    const predict = configSummary(load(join(CONFIGS, 'predict_llama2_7b.yaml'), ['--predict_data', 'a', 'b']).config);
    assert.match(predict, /no LoRA/);
    assert.match(
      predict,
      /decoding: greedy, repetition_penalty 1, max_decode_length 512, 2 prompt\(s\) in batches of 1/,
    );
  });
});
