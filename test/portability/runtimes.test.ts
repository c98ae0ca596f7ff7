/**
 * The bundled scripts (dist/scripts) run unchanged under Node, Deno and Bun (the binaries of the
 * npm packages `deno` and `bun`) and agree. Each runtime works in its own folder with the same
 * relative paths, on the first 40 Alpaca records: alpaca_converter → llama_preprocess (qa, seq
 * 128, two tokenizer threads) → run_mindformer train (a tiny model from random weights, 4 steps)
 * → finetune from it (LoRA, 4 steps) → predict through the PEFT adapter. On the SIMD128 core
 * (`--device_target simd`): the conversation file and every shard file are identical, losses
 * and gradient norms agree to 1e-5, adapters to 1e-5, and the generated text is the same. Then
 * each runtime fine-tunes on the core it picks itself (relaxed SIMD in all three here), which
 * agrees to 1e-4 (relaxed SIMD may round differently from engine to engine). msrun_launcher's
 * 2 data-parallel ranks (worker threads over one shared WebAssembly memory) fine-tune as under
 * Node and as one rank with the whole batch, their loss lines in their worker logs. And the kernel
 * tests (every kernel against the reference, on each build the engine runs) pass under Bun's
 * JavaScriptCore.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SafetensorsFile } from '../../src/checkpoint/safetensors.ts';
import { assertClose } from '../helpers.ts';
import { ALPACA, ROOT, RUNTIMES, runCli } from '../fixtures.ts';

const TRAIN = join(ROOT, 'configs/llama2/train_tiny.yaml'),
  LORA = join(ROOT, 'configs/llama2/lora_tiny.yaml');

type Runtime = keyof typeof RUNTIMES;

/** One training run as its info.log tells it: the core, each step's loss (as printed) and gradient norm, the final loss. */
interface TrainLog {
  core: string;
  losses: string[];
  norms: number[];
  final: number;
}

function readTrainLog(dir: string): TrainLog {
  const text = readFileSync(join(dir, 'log/rank_0/info.log'), 'utf8');
  const steps = [...text.matchAll(/loss: ([\d.]+),.*global_norm: ([\d.e+-]+)/g)];
  return {
    core: /on the (\w+) core/.exec(text)![1],
    losses: steps.map((m) => m[1]),
    norms: steps.map((m) => Number(m[2])),
    final: Number(/final loss ([\d.e+-]+)/.exec(text)![1]),
  };
}

/** Asserts two training logs agree: same number of steps, printed losses equal, norms and final loss within `rtol`. */
function assertSameTraining(got: TrainLog, want: TrainLog, rtol: number, label: string): void {
  assert.equal(got.norms.length, want.norms.length, `${label}: steps`);
  assert.deepEqual(got.losses, want.losses, `${label}: loss lines`);
  assertClose(got.norms, want.norms, rtol, `${label}: gradient norms`);
  assertClose([got.final], [want.final], rtol, `${label}: final loss`);
}

/** The files of a folder, by name, as bytes. */
function folderBytes(dir: string): Map<string, Buffer> {
  return new Map(
    readdirSync(dir)
      .sort()
      .map((f) => [f, readFileSync(join(dir, f))]),
  );
}

describe('the scripts under Node, Deno and Bun', () => {
  let root: string;
  const dirs = {} as Record<Runtime, string>;
  const predicted = {} as Record<Runtime, string>;

  before(async () => {
    execFileSync(process.execPath, ['tools/build.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
    root = mkdtempSync(join(tmpdir(), 'wf-runtimes-'));
    const records = JSON.stringify(JSON.parse(readFileSync(ALPACA, 'utf8')).slice(0, 40));
    // The runtimes run side by side; within one, the steps run in order.
    await Promise.all(
      (Object.keys(RUNTIMES) as Runtime[]).map(async (rt) => {
        const dir = (dirs[rt] = join(root, rt));
        mkdirSync(dir);
        writeFileSync(join(dir, 'alpaca.json'), records);
        // dist/scripts/<script>.js under rt: its stdout, or the run fails showing its output.
        const run = async (script: string, ...args: string[]) =>
          (await runCli(args, { script, runtime: rt, cwd: dir, expect: 0 })).stdout;
        const small = ['--batch_size', '4', '--num_samples', '16'];
        await run('alpaca_converter', '--data_path', 'alpaca.json', '--output_path', 'conv.json');
        await run(
          'llama_preprocess',
          '--dataset_type',
          'qa',
          '--input_glob',
          'conv.json',
          '--seq_length',
          '128',
          '--workers',
          '2',
          '--output_file',
          'shards',
        );
        await run(
          'run_mindformer',
          '--config',
          TRAIN,
          '--run_mode',
          'train',
          '--device_target',
          'simd',
          '--train_dataset_dir',
          'shards',
          '--output_dir',
          'train',
          ...small,
        );
        await run(
          'run_mindformer',
          '--config',
          LORA,
          '--run_mode',
          'finetune',
          '--device_target',
          'simd',
          '--train_dataset_dir',
          'shards',
          '--output_dir',
          'lora',
          '--load_checkpoint',
          'train/checkpoint/rank_0/tiny_rank_0-1_4.safetensors',
          ...small,
        );
        predicted[rt] = await run(
          'run_mindformer',
          '--config',
          LORA,
          '--run_mode',
          'predict',
          '--device_target',
          'simd',
          '--output_dir',
          'predict',
          '--load_checkpoint',
          'lora/adapter',
          '--predict_data',
          'Give three tips for staying healthy.',
          '--model.model_config.max_decode_length',
          '40',
        );
        await run(
          'run_mindformer',
          '--config',
          LORA,
          '--run_mode',
          'finetune',
          '--train_dataset_dir',
          'shards',
          '--output_dir',
          'auto',
          '--load_checkpoint',
          'train/checkpoint/rank_0/tiny_rank_0-1_4.safetensors',
          ...small,
        );
        await run(
          'msrun_launcher',
          `run_mindformer --config ${LORA} --run_mode finetune --device_target simd --train_dataset_dir shards --output_dir ranks ` +
            '--load_checkpoint train/checkpoint/rank_0/tiny_rank_0-1_4.safetensors --batch_size 2 --num_samples 16 --use_parallel True --parallel_config.data_parallel 2',
          '2',
        );
      }),
    );
  });

  after(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('bun: the kernel tests pass on the cores JavaScriptCore runs (bun test)', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(RUNTIMES.bun[0], ['test', './test/kernels.test.ts'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let text = '';
      child.stdout.on('data', (d) => {
        text += d;
      });
      child.stderr.on('data', (d) => {
        text += d;
      });
      child.on('error', reject);
      child.on('close', (code) =>
        code === 0 ? resolve(text) : reject(new Error(`bun test exited with ${code}:\n${text}`)),
      );
    });
    assert.match(out, /^ *[1-9]\d* pass$/m);
    assert.match(out, /^ *0 fail$/m);
    assert.match(out, /simd core > /);
  });

  for (const rt of ['deno', 'bun'] as const) {
    it(`${rt}: alpaca_converter and llama_preprocess write the same bytes as under Node`, () => {
      assert.ok(
        readFileSync(join(dirs[rt], 'conv.json')).equals(readFileSync(join(dirs.node, 'conv.json'))),
        'conv.json differs',
      );
      const got = folderBytes(join(dirs[rt], 'shards')),
        want = folderBytes(join(dirs.node, 'shards'));
      assert.deepEqual([...got.keys()], [...want.keys()]);
      for (const [f, bytes] of want) assert.ok(got.get(f)!.equals(bytes), `shards/${f} differs`);
    });

    it(`${rt}: training, fine-tuning and prediction on the SIMD128 core agree with Node`, () => {
      for (const run of ['train', 'lora']) {
        const got = readTrainLog(join(dirs[rt], run)),
          want = readTrainLog(join(dirs.node, run));
        assert.equal(got.core, 'simd');
        assertSameTraining(got, want, 1e-5, `${rt} ${run}`);
      }
      const got = SafetensorsFile.open(join(dirs[rt], 'lora/adapter/adapter_model.safetensors'));
      const want = SafetensorsFile.open(join(dirs.node, 'lora/adapter/adapter_model.safetensors'));
      try {
        assert.deepEqual([...got.tensors.keys()], [...want.tensors.keys()]);
        for (const name of want.tensors.keys())
          assertClose(got.readF32(name), want.readF32(name), 1e-5, `${rt} adapter ${name}`);
      } finally {
        got.close();
        want.close();
      }
      assert.ok(predicted.node.startsWith('Give three tips for staying healthy.'), predicted.node);
      assert.equal(predicted[rt], predicted.node);
    });

    it(`${rt}: msrun_launcher's 2 data-parallel ranks (worker threads over a shared memory) fine-tune as Node's and as one rank with the whole batch`, () => {
      const got = readTrainLog(join(dirs[rt], 'ranks'));
      assertSameTraining(got, readTrainLog(join(dirs.node, 'ranks')), 1e-5, `${rt} ranks`);
      assertSameTraining(got, readTrainLog(join(dirs[rt], 'lora')), 1e-5, `${rt} 2 ranks × 2 against 1 rank × 4`);
      for (const k of [0, 1])
        assert.equal(
          [...readFileSync(join(dirs[rt], `output/msrun_log/worker_${k}.log`), 'utf8').matchAll(/loss: /g)].length,
          4,
          `${rt} worker_${k}.log`,
        );
    });

    it(`${rt}: fine-tuning on the core the runtime picks agrees with Node`, () => {
      const got = readTrainLog(join(dirs[rt], 'auto')),
        want = readTrainLog(join(dirs.node, 'auto'));
      assert.equal(want.core, 'relaxed');
      assert.ok(got.core === 'relaxed' || got.core === 'simd', got.core);
      assertSameTraining(got, want, 1e-4, `${rt} auto (${got.core} core)`);
    });
  }
});
