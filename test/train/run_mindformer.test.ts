/**
 * run_mindformer end to end on the real Alpaca records: fine-tuning lowers the loss and is
 * deterministic, a run killed with SIGKILL ten times resumes to exactly the uninterrupted loss
 * with no corrupt checkpoint on the way, eval and predict work, and every bad input a user can
 * give stops with one line and a non-zero exit.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/checkpoint/safetensors.ts';
import { loadTokenizer } from '../../src/tokenizer/load.ts';
import { Rng } from '../../src/runtime/random.ts';
import { alpacaQaShards, ROOT, runCli, startCli, TINY } from '../fixtures.ts';

let dir = '';

/** Runs the bundled CLI in the scratch folder. */
const cli = (...args: string[]) => runCli(args, { cwd: dir });

/** The numbers of each loss monitor line: loss, lr and global norm (time-dependent fields left out). */
function lossLines(log: string): string[] {
  return [
    ...log.matchAll(
      /step:\[\s*(\d+)\/\s*\d+\], loss: ([\d.]+), per_step_time: \d+ms, lr: ([^,]+), .*global_norm: ([^,]+),/g,
    ),
  ].map((m) => `${m[1]} ${m[2]} ${m[3]} ${m[4]}`);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wasmformers-run-'));
  await alpacaQaShards(dir, 's256', 256);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('run_mindformer', () => {
  it('fine-tunes the stories15M shape for 200 steps: the loss falls, and a second run prints the same loss lines', async () => {
    const run = async (out: string) => {
      const r = await cli(
        'run_mindformer',
        '--config',
        join(ROOT, 'configs/llama2/lora_stories15m.yaml'),
        '--train_dataset_dir',
        join(dir, 's256'),
        '--batch_size',
        '1',
        '--num_samples',
        '200',
        '--model.model_config.initializer_range',
        '0.1',
        '--output_dir',
        join(dir, out),
      );
      assert.equal(r.code, 0, r.stderr);
      return r.stdout;
    };
    const first = lossLines(await run('ft1'));
    assert.equal(first.length, 200);
    // No pre-trained stories15M weights exist here: the base is random (initializer_range 0.1, so
    // that its frozen head can express a distribution), and with one record a step the loss is
    // noisy; the mean of the last 50 steps must be well below that of the first 50.
    const losses = first.map((l) => Number(l.split(' ')[1]));
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
    assert.ok(
      mean(losses.slice(150)) < mean(losses.slice(0, 50)) - 0.5,
      `mean loss ${mean(losses.slice(0, 50))} → ${mean(losses.slice(150))}`,
    );
    assert.deepEqual(lossLines(await run('ft2')), first, 'same seed, same loss lines');
    assert.ok(existsSync(join(dir, 'ft1/adapter/adapter_config.json')), 'the adapter is saved in PEFT layout');
    assert.match(readFileSync(join(dir, 'ft1/report.html'), 'utf8'), /<svg[^]*loss[^]*<\/svg>/);
    assert.ok(
      readFileSync(join(dir, 'ft1/log/rank_0/info.log'), 'utf8').includes('loss: '),
      'the monitor lines are in info.log',
    );
  });

  it('resumes after ten SIGKILLs at random steps to exactly the uninterrupted final loss, with no corrupt checkpoint', async () => {
    const base = [
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/lora_tiny.yaml'),
      '--train_dataset_dir',
      join(dir, 's256'),
      '--batch_size',
      '2',
      '--num_samples',
      '300',
      '--callbacks.1.save_checkpoint_steps',
      '1',
      '--model.model_config.pet_config.lora_dropout',
      '0.1',
    ];
    const finalLoss = (text: string) => Number(/final loss ([-+.\deE]+)/.exec(text)![1]);
    const whole = await cli(...base, '--output_dir', join(dir, 'whole'));
    assert.equal(whole.code, 0, whole.stderr);
    const out = join(dir, 'killed'),
      ckdir = join(out, 'checkpoint/rank_0'),
      rng = new Rng(99);
    let kills = 0,
      last = '';
    while (true) {
      const resume = existsSync(join(ckdir, 'meta.json')) ? ['--resume_training', 'True'] : [];
      const run = startCli([...base, '--output_dir', out, ...resume], { cwd: dir });
      // Kill after a random number of new steps, plus a random delay that may land in a checkpoint write.
      const killAfter = kills < 10 ? 2 + rng.int(10) : Infinity,
        delay = rng.int(150);
      let stdout = '',
        armed = false;
      run.child.stdout!.on('data', (d) => {
        stdout += d;
        if (!armed && (stdout.match(/loss: /g)?.length ?? 0) >= killAfter) {
          armed = true;
          setTimeout(() => run.child.kill('SIGKILL'), delay);
        }
      });
      const { code } = await run.done;
      last = stdout;
      if (code === 0) break;
      kills++;
      assert.ok(kills <= 10, `run ended with ${code} after its kills`);
      // Whatever the moment of the kill, every checkpoint on disk is whole.
      if (existsSync(ckdir)) {
        for (const f of readdirSync(ckdir).filter((f) => f.endsWith('.safetensors'))) {
          const st = SafetensorsFile.open(join(ckdir, f));
          for (const name of st.tensors.keys()) st.readF32(name);
          st.close();
        }
        const meta = JSON.parse(readFileSync(join(ckdir, 'meta.json'), 'utf8'));
        assert.ok(existsSync(join(ckdir, meta.last_ckpt_file)), 'meta.json names a file that exists');
      }
    }
    assert.equal(kills, 10);
    assert.ok(
      Math.abs(finalLoss(last) - finalLoss(whole.stdout)) <= 1e-6,
      `final loss ${finalLoss(last)} vs uninterrupted ${finalLoss(whole.stdout)}`,
    );
  });

  it('evaluates loss and perplexity, and predicts from prompts', async () => {
    const ev = await cli(
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/lora_tiny.yaml'),
      '--run_mode',
      'eval',
      '--eval_dataset_dir',
      join(dir, 's256'),
      '--num_samples',
      '16',
      '--output_dir',
      join(dir, 'ev'),
    );
    assert.equal(ev.code, 0, ev.stderr);
    const m = /loss (\S+), perplexity (\S+)/.exec(ev.stdout)!;
    assert.ok(Math.abs(Math.exp(Number(m[1])) - Number(m[2])) < 1e-3 * Number(m[2]), ev.stdout);
    const pr = await cli(
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/lora_tiny.yaml'),
      '--run_mode',
      'predict',
      '--predict_data',
      'Hello',
      'Give three tips',
      '--model.model_config.max_decode_length',
      '12',
      '--output_dir',
      join(dir, 'pr'),
    );
    assert.equal(pr.code, 0, pr.stderr);
    const lines = pr.stdout
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('warning'));
    assert.equal(lines.length, 2);
    assert.ok(lines[0].startsWith('Hello') && lines[1].startsWith('Give three tips'), pr.stdout);
    // info.log times each prompt: its tokens (the bundled tokenizer's, BOS included), then the new ones up to max_decode_length.
    const tok = (await loadTokenizer()).tokenizer,
      log = readFileSync(join(dir, 'pr/log/rank_0/info.log'), 'utf8');
    const times = [
      ...log.matchAll(
        /^generation: (\d+) prompt tokens, the first new token after \d+\.\d\d s, then (\d+) at (\d+\.\d\d) tokens\/s$/gm,
      ),
    ];
    assert.deepEqual(
      times.map((t) => Number(t[1])),
      ['Hello', 'Give three tips'].map((p) => tok.encode(p, { bos: true, eos: false }).length),
      log,
    );
    for (const t of times) {
      assert.ok(Number(t[1]) + 1 + Number(t[2]) <= 12 && Number(t[3]) > 0, t[0]);
    }
  });

  it('predict --dtype: q4_k stores matrices whose rows are not whole super-blocks as q5_0 (q6_k as q8_0), says so, and continues as --dtype q5_0 does', async () => {
    const predict = async (dtype: string) => {
      const out = join(dir, `dtype-${dtype}`);
      const r = await cli(
        'run_mindformer',
        '--config',
        join(ROOT, 'configs/llama2/lora_tiny.yaml'),
        '--run_mode',
        'predict',
        '--predict_data',
        'Hello',
        '--model.model_config.max_decode_length',
        '12',
        '--dtype',
        dtype,
        '--output_dir',
        out,
      );
      assert.equal(r.code, 0, r.stderr);
      return {
        text: r.stdout.split('\n').filter((l) => l.startsWith('Hello')),
        log: readFileSync(join(out, 'log/rank_0/info.log'), 'utf8'),
      };
    };
    const q4k = await predict('q4_k'),
      q5 = await predict('q5_0'),
      q6k = await predict('q6_k'),
      q8 = await predict('q8_0'),
      f32 = await predict('f32');
    assert.equal(q4k.text.length, 1);
    assert.deepEqual(q4k.text, q5.text);
    assert.deepEqual(q6k.text, q8.text);
    assert.match(
      q4k.log,
      /^q4_k: matrices whose rows are not whole super-blocks of 256 values are stored as q5_0: model\.embed_tokens\.weight, .*\(rows of 64\); layers\.\*\.mlp\.down_proj\.weight \(rows of 192\)$/m,
    );
    assert.match(q6k.log, /^q6_k: matrices whose rows are not whole super-blocks of 256 values are stored as q8_0: /m);
    assert.doesNotMatch(q5.log + q8.log + f32.log, /stored as q/);
  });

  it('stops on a non-finite loss, naming the step and the last good checkpoint', async () => {
    const r = await cli(
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/lora_tiny.yaml'),
      '--train_dataset_dir',
      join(dir, 's256'),
      '--num_samples',
      '64',
      '--lr_schedule.learning_rate',
      '1e30',
      '--lr_schedule.warmup_ratio',
      '0',
      '--callbacks.1.save_checkpoint_steps',
      '1',
      '--output_dir',
      join(dir, 'nan'),
    );
    assert.equal(r.code, 1);
    assert.match(
      r.stderr.trim(),
      /^run_mindformer: the loss is (NaN|Infinity) and the gradient norm \S+ at epoch 1, step \d+: training stops; the last good checkpoint is tiny_lora_rank_0-1_\d+\.safetensors$/,
    );
  });

  it('fine-tunes from a pre-trained checkpoint, then predicts through the saved PEFT adapter from another folder', async () => {
    const pre = await cli(
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/train_tiny.yaml'),
      '--train_dataset_dir',
      join(dir, 's256'),
      '--num_samples',
      '16',
      '--callbacks.1.prefix',
      'pre',
      '--output_dir',
      join(dir, 'pre'),
    );
    assert.equal(pre.code, 0, pre.stderr);
    const base = /last checkpoint (\S+\.safetensors)/.exec(pre.stdout)![1];
    // The base named relative to the working folder (dir) ...
    const ft = await cli(
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/lora_tiny.yaml'),
      '--train_dataset_dir',
      join(dir, 's256'),
      '--num_samples',
      '16',
      '--load_checkpoint',
      join('pre/checkpoint/rank_0', base),
      '--output_dir',
      join(dir, 'ft-pre'),
    );
    assert.equal(ft.code, 0, ft.stderr);
    const adapter = join(dir, 'ft-pre/adapter');
    assert.equal(
      JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')).base_model_name_or_path,
      join(dir, 'pre/checkpoint/rank_0', base),
    );
    // ... is found when the adapter is used from another working folder.
    const pr = await runCli(
      [
        'run_mindformer',
        '--config',
        join(ROOT, 'configs/llama2/lora_tiny.yaml'),
        '--run_mode',
        'predict',
        '--predict_data',
        'Hello',
        '--model.model_config.max_decode_length',
        '10',
        '--load_checkpoint',
        adapter,
        '--output_dir',
        join(dir, 'pr-ad'),
      ],
      { cwd: tmpdir() },
    );
    assert.equal(pr.code, 0, pr.stderr);
    assert.ok(pr.stdout.startsWith('Hello'), pr.stdout);
  });

  it('stops every bad input with one line and a non-zero exit', async () => {
    const tiny = join(ROOT, 'configs/llama2/lora_tiny.yaml');
    const emptyConv = join(dir, 'empty.json');
    writeFileSync(emptyConv, '[]');
    await runCli(
      [
        'llama_preprocess',
        '--dataset_type',
        'qa',
        '--input_glob',
        emptyConv,
        '--seq_length',
        '256',
        '--output_file',
        join(dir, 'empty'),
        '--workers',
        '0',
      ],
      { expect: 0 },
    );
    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'runner_config:\n  epoch: 2\n');
    // qa datasets whose first answer is empty (every label of that row masked), then one that is not.
    const masked = [
      {
        id: '1',
        conversations: [
          { from: 'human', value: 'Hi' },
          { from: 'gpt', value: '' },
        ],
      },
    ];
    const answered = [
      {
        id: '2',
        conversations: [
          { from: 'human', value: 'Hi' },
          { from: 'gpt', value: 'Hello' },
        ],
      },
    ];
    for (const [name, records] of [
      ['masked', masked],
      ['partly-masked', [...masked, ...answered]],
    ] as const) {
      writeFileSync(join(dir, `${name}.json`), JSON.stringify(records));
      await runCli(
        [
          'llama_preprocess',
          '--dataset_type',
          'qa',
          '--input_glob',
          join(dir, `${name}.json`),
          '--seq_length',
          '256',
          '--output_file',
          join(dir, name),
          '--workers',
          '0',
        ],
        { expect: 0 },
      );
    }
    // A copy of the shards with one id changed into another valid id.
    const flipped = join(dir, 'flipped');
    cpSync(join(dir, 's256'), flipped, { recursive: true });
    const shard = readFileSync(join(flipped, 'shard-00000.msgpack'));
    shard[100] ^= 1;
    writeFileSync(join(flipped, 'shard-00000.msgpack'), shard);
    const cases: [string[], RegExp][] = [
      [['--config', bad], /unknown key runner_config\.epoch/],
      [['--config', tiny, '--batch_size', 'two'], /--batch_size: expected an integer, got 'two'/],
      [
        ['--config', tiny, '--train_dataset_dir', join(dir, 'nowhere')],
        /nowhere: no such dataset folder \(--train_dataset_dir\)/,
      ],
      [['--config', tiny, '--run_mode', 'finetun'], /unknown --run_mode 'finetun'/],
      [
        ['--config', tiny, '--run_mode', 'predict', '--predict_data', 'Hi', '--dtype', 'q3_k'],
        /unknown --dtype 'q3_k' \(f32, float32, bf16, bfloat16, int8, q8_0, q4_0, q5_0, q4_1, q5_1, q4_k, q5_k, q6_k, stored\)/,
      ],
      [
        ['--config', tiny, '--run_mode', 'predict', '--predict_data', 'Hi', '--dtype', 'stored'],
        /model\.model_config\.param_init_type stored keeps the checkpoint's own types: it needs --load_checkpoint/,
      ],
      [['--config', tiny, '--train_dataset_dir', join(dir, 'empty')], /the dataset is empty/],
      [
        [
          '--config',
          tiny,
          '--run_mode',
          'eval',
          '--eval_dataset_dir',
          join(dir, 'partly-masked'),
          '--num_samples',
          '1',
        ],
        /partly-masked: no position of the 1 records evaluated counts in the loss \(every label is masked: -100 or padding\), so loss and perplexity are undefined$/,
      ],
      [
        ['--config', tiny, '--train_dataset_dir', join(dir, 'masked')],
        /masked: every label of its 1 rows is masked \(index\.json masked_rows\), so no position counts in the loss$/,
      ],
      [
        ['--config', tiny, '--train_dataset_dir', flipped],
        /flipped\/shard-00000\.msgpack: sha256 [0-9a-f]{64} does not match index\.json \([0-9a-f]{64}\); the shard is damaged$/,
      ],
      [
        ['--config', tiny, '--run_mode', 'eval', '--eval_dataset_dir', flipped],
        /flipped\/shard-00000\.msgpack: sha256 .* the shard is damaged$/,
      ],
      [
        ['--config', tiny, '--train_dataset_dir', join(dir, 's256'), '--model.model_config.seq_length', '128'],
        /seq_length 256 is larger than the model's seq_length 128/,
      ],
      [['--config', tiny, '--train_dataset_dir', join(dir, 's256'), '--load_checkpoint', TINY], /shape|vocab|hidden/],
    ];
    for (const [args, want] of cases) {
      const r = await cli('run_mindformer', ...args, '--output_dir', join(dir, 'bad-out'));
      assert.notEqual(r.code, 0, `${args.join(' ')} should fail`);
      const errLines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('run_mindformer:'));
      assert.equal(errLines.length, 1, `one error line for ${args.join(' ')}: ${r.stderr}`);
      assert.match(errLines[0], want);
    }
    // "a a a ... a": BOS and 20,000 pieces "▁a". The first prompt fits, the second does not, and
    // nothing is generated before the refusal.
    const long = await cli(
      'run_mindformer',
      '--config',
      tiny,
      '--run_mode',
      'predict',
      '--predict_data',
      'Hello',
      `${'a '.repeat(19_999)}a`,
      '--output_dir',
      join(dir, 'bad-out'),
    );
    assert.equal(long.code, 1);
    assert.equal(long.stdout, '');
    assert.match(
      long.stderr,
      /^run_mindformer: prompt 2 is 20001 tokens, more than the model's seq_length 256 \(model\.model_config\.seq_length\)$/m,
    );
  });
});
