/**
 * init_checkpoint: the folder loads to the weights initRandom gives for the same seed (f32 exactly,
 * bf16 rounded), an independent Python reader parses every file and checksum and the index maps
 * every tensor, shards respect --max_shard_size, memory stays flat for a ~300 MB model, and bad
 * input stops with one line and leaves nothing behind.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/commands/init_checkpoint.ts';
import { loadModel } from '../../src/checkpoint/load.ts';
import { randomTensors } from '../../src/checkpoint/random_init.ts';
import { configFromHF, type LlamaConfig } from '../../src/model/config.ts';
import { LlamaModel } from '../../src/model/llama.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { runCli, startCli } from '../fixtures.ts';
import { quietly, scratch } from './helpers.ts';

const root = new URL('../../', import.meta.url).pathname;
const dir = scratch();
const TINY_YAML = join(root, 'configs/llama2/train_tiny.yaml');
const ORACLE = new URL('../reference/safetensors_oracle.py', import.meta.url).pathname;

/** A small odd shape: grouped-query heads, untied head, FFN from intermediate_size. */
const SMALL = [
  '--model.model_config.hidden_size',
  '24',
  '--model.model_config.num_layers',
  '2',
  '--model.model_config.num_heads',
  '6',
  '--model.model_config.n_kv_heads',
  '2',
  '--model.model_config.vocab_size',
  '301',
  '--model.model_config.intermediate_size',
  '40',
  '--model.model_config.initializer_range',
  '0.05',
];

/** What the Python reader reports about a folder. */
interface OracleTensor {
  file: string;
  dtype: string;
  shape: number[];
  crc_ok: boolean;
  count: number;
  mean: number;
  std: number;
  min: number;
  max: number;
}
interface OracleFolder {
  files: Record<string, { tensors: number; data_bytes: number }>;
  index: { metadata: { total_size: number }; weight_map: Record<string, string> } | null;
  tensors: Record<string, OracleTensor>;
}

function oracle(folder: string): OracleFolder {
  return JSON.parse(execFileSync('/usr/bin/python3', [ORACLE, folder], { encoding: 'utf8', maxBuffer: 1 << 26 }));
}

/** Runs init_checkpoint in this process (console swallowed) and returns the config it wrote. */
async function init(out: string, args: string[]): Promise<LlamaConfig> {
  const { code } = await quietly(main, ['--config', TINY_YAML, '--output_dir', out, ...args]);
  assert.equal(code, 0);
  return configFromHF(JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')), out);
}

/** Every base tensor's values (f32) of a model, by name. */
function values(model: LlamaModel): Map<string, Float32Array> {
  const w = model.weights;
  return new Map(
    w
      .baseTensors()
      .map((t) => [
        t.name,
        t.matrix ? w.getMatrix(t.matrix) : Float32Array.from(w.core.arena.f32(t.vector!, t.shape[0])),
      ]),
  );
}

function assertSameValues(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>): void {
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [name, e] of expected) {
    const a = actual.get(name)!;
    assert.ok(
      Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(e.buffer, e.byteOffset, e.byteLength)),
      `values of ${name}`,
    );
  }
}

/** Peak RSS (KiB) of init_checkpoint run in a child process, as the process itself reports it. */
function peakRss(args: string[]): Promise<number> {
  const script =
    "import { main } from './src/commands/init_checkpoint.ts'; process.exitCode = await main(process.argv.slice(1)); console.log('maxRSS', process.resourceUsage().maxRSS);";
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, '--', ...args], {
      cwd: root,
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const m = /maxRSS (\d+)/.exec(out);
      if (code !== 0 || !m) reject(new Error(`init_checkpoint exited with ${code}: ${out}`));
      else resolve(Number(m[1]));
    });
  });
}

describe('init_checkpoint', async () => {
  const core = await loadCore();

  it('loads to the weights initRandom gives for the same seed: f32 exactly, bf16 rounded', async () => {
    for (const [dtype, wt] of [
      ['f32', WeightType.F32],
      ['bf16', WeightType.BF16],
    ] as const) {
      const out = join(dir, `same-${dtype}`);
      const config = await init(out, [...SMALL, '--seed', '7', '--dtype', dtype, '--max_shard_size', '10KB']);
      assert.deepEqual(
        [
          config.dim,
          config.nLayers,
          config.nHeads,
          config.nKvHeads,
          config.vocabSize,
          config.ffnDim,
          config.tieEmbeddings,
        ],
        [24, 2, 6, 2, 301, 40, false],
      );
      const loaded = await loadModel(core, out, { mode: 'finetune', weightType: WeightType.F32 });
      const expected = new LlamaModel(core, config, { mode: 'finetune', weightType: wt });
      expected.weights.initRandom(7, 0.05);
      assertSameValues(values(loaded), values(expected));
    }
  });

  it("defaults to the config's seed and draws the same values whatever the piece size", async () => {
    const out = join(dir, 'default-seed');
    const config = await init(out, [...SMALL, '--seed=0', '--dtype', 'f32']);
    const again = join(dir, 'config-seed');
    await init(again, [...SMALL, '--dtype', 'f32']); // train_tiny.yaml has seed 0
    assert.ok(readFileSync(join(out, 'model.safetensors')).equals(readFileSync(join(again, 'model.safetensors'))));
    // pieces of 7 values, across tensor boundaries, give the same bytes as whole tensors
    for (const dtype of ['F32', 'BF16'] as const) {
      const whole = randomTensors(config, 3, 0.02, dtype).map((t) => Buffer.from(t.bytes() as Uint8Array));
      const pieces = randomTensors(config, 3, 0.02, dtype, 7).map((t) =>
        Buffer.concat(Array.from(t.chunks!(), (c) => Buffer.from(c))),
      );
      assert.deepEqual(pieces, whole);
    }
    assert.throws(
      () => [...randomTensors(config, 3, 0.02, 'F32')[1].chunks!()],
      /random tensor model\.layers\.0\.input_layernorm\.weight asked for out of order/,
    );
  });

  it('writes files an independent reader parses, every checksum right and every tensor in the index', async () => {
    const out = join(dir, 'oracle');
    await init(out, [...SMALL, '--dtype', 'bf16', '--max_shard_size', '4KB', '--seed', '11']);
    const r = oracle(out);
    assert.ok(r.index, 'sharded folders have model.safetensors.index.json');
    const names = Object.keys(r.tensors);
    assert.equal(names.length, 1 + 2 * 9 + 1 + 1);
    assert.deepEqual(Object.keys(r.index.weight_map).sort(), [...names].sort());
    assert.equal(
      r.index.metadata.total_size,
      Object.values(r.tensors).reduce((s, t) => s + t.count * 2, 0),
    );
    for (const [name, t] of Object.entries(r.tensors)) {
      assert.ok(t.crc_ok, `checksum of ${name}`);
      assert.equal(t.dtype, 'BF16');
      if (name.endsWith('norm.weight')) {
        assert.deepEqual([t.min, t.max], [1, 1], name);
      } else if (t.count >= 1000) {
        // normal(0, 0.05): mean and std within a few standard errors
        assert.ok(Math.abs(t.mean) < (5 * 0.05) / Math.sqrt(t.count), `${name} mean ${t.mean}`);
        assert.ok(Math.abs(t.std / 0.05 - 1) < 0.1, `${name} std ${t.std}`);
      }
    }
    assert.deepEqual(r.tensors['model.layers.1.self_attn.k_proj.weight'].shape, [8, 24]);
    assert.deepEqual(r.tensors['model.layers.1.mlp.down_proj.weight'].shape, [24, 40]);
    assert.deepEqual(
      readdirSync(out).sort(),
      ['config.json', ...Object.keys(r.files), 'model.safetensors.index.json'].sort(),
    );
  });

  it('shards by --max_shard_size: files in order, none above the limit unless one tensor is', async () => {
    const cases: [string, number, number][] = [
      ['3KB', 3000, 0],
      ['5000', 5000, 0],
      ['1MiB', 2 ** 20, 1],
    ];
    for (const [size, limit, expectedFiles] of cases) {
      const out = join(dir, `shards-${size}`);
      await init(out, [...SMALL, '--dtype', 'f32', '--max_shard_size', size]);
      const r = oracle(out);
      const files = Object.keys(r.files);
      if (expectedFiles === 1) {
        assert.equal(r.index, null);
        assert.deepEqual(files, ['model.safetensors']);
        continue;
      }
      const n = files.length;
      assert.ok(n > 2, `${size}: ${n} shards`);
      assert.deepEqual(
        files,
        Array.from(
          { length: n },
          (_, i) => `model-${String(i + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`,
        ),
      );
      const order = Object.keys(r.index!.weight_map);
      for (const [file, f] of Object.entries(r.files)) {
        const biggest = Math.max(
          ...Object.values(r.tensors)
            .filter((t) => t.file === file)
            .map((t) => t.count * 4),
        );
        assert.ok(
          f.data_bytes <= limit || f.tensors === 1,
          `${size}: ${file} holds ${f.data_bytes} bytes in ${f.tensors} tensors (largest ${biggest})`,
        );
      }
      // greedy filling: a shard and the next tensor would have passed the limit
      const fileOf = (i: number) => r.tensors[order[i]].file;
      for (let i = 1; i < order.length; i++) {
        if (fileOf(i) === fileOf(i - 1)) continue;
        const t = r.tensors[order[i]];
        assert.ok(
          r.files[fileOf(i - 1)].data_bytes + t.count * 4 > limit,
          `${size}: ${order[i]} could have joined ${fileOf(i - 1)}`,
        );
      }
    }
  });

  it('keeps memory flat: a ~300 MB model peaks within 48 MiB of a 17 MB one', async () => {
    const big = [
      '--model.model_config.hidden_size',
      '512',
      '--model.model_config.num_layers',
      '12',
      '--model.model_config.num_heads',
      '8',
      '--model.model_config.multiple_of',
      '256',
    ];
    const small = await peakRss(['--config', TINY_YAML, '--output_dir', join(dir, 'rss-small'), '--dtype', 'f32']);
    const large = await peakRss([
      '--config',
      TINY_YAML,
      '--output_dir',
      join(dir, 'rss-large'),
      '--dtype',
      'f32',
      '--max_shard_size',
      '100MB',
      ...big,
    ]);
    const bytes = readdirSync(join(dir, 'rss-large')).reduce((s, f) => s + statSync(join(dir, 'rss-large', f)).size, 0);
    assert.ok(bytes > 280e6, `model of ${bytes} bytes`);
    assert.ok(
      large * 1024 < bytes / 2 && large - small < 48 * 1024,
      `peak RSS ${large} KiB for a ${bytes}-byte model, ${small} KiB for the tiny one`,
    );
  });

  it('stops on bad input with one line and exit 1, leaving nothing behind', async () => {
    const out = join(dir, 'bad');
    const cases: [string[], RegExp][] = [
      [['--output_dir', out], /^init_checkpoint: --config is required$/],
      [['--config', TINY_YAML], /^init_checkpoint: --output_dir is required$/],
      [
        ['--config', join(dir, 'none.yaml'), '--output_dir', out],
        /^init_checkpoint: .*none\.yaml: no such config file$/,
      ],
      [
        ['--config', TINY_YAML, '--output_dir', out, '--dtype', 'fp16'],
        /^init_checkpoint: --dtype takes bf16 or f32, got 'fp16'$/,
      ],
      [
        ['--config', TINY_YAML, '--output_dir', out, '--seed', '-1'],
        /^init_checkpoint: --seed takes an integer from 0 to 4294967295, got -1$/,
      ],
      [
        ['--config', TINY_YAML, '--output_dir', out, '--seed', 'x'],
        /^init_checkpoint: --seed takes a number, got 'x'$/,
      ],
      [
        ['--config', TINY_YAML, '--output_dir', out, '--max_shard_size', '2 parsecs'],
        /^init_checkpoint: --max_shard_size takes a size such as 2GB, 500MB or 1GiB, got '2 parsecs'$/,
      ],
      [['--config', TINY_YAML, '--output_dir', out, '--max_shard_size', '0'], /--max_shard_size takes a size/],
      [
        ['--config', TINY_YAML, '--output_dir', out, '--bogus', '1'],
        /^init_checkpoint: unknown flag --bogus \(known: /,
      ],
      [
        ['--config', TINY_YAML, '--output_dir', out, '--model.model_config.hidden_sise', '8'],
        /^init_checkpoint: --model\.model_config\.hidden_sise: unknown key model\.model_config\.hidden_sise \(did you mean model\.model_config\.hidden_size\?\)$/,
      ],
      [
        ['--config', TINY_YAML, '--output_dir', out, '--model.model_config.num_heads', '5'],
        /^init_checkpoint: .*train_tiny\.yaml: model\.model_config: hidden size 64 is not a multiple of the 5 heads$/,
      ],
      [
        ['--config', TINY_YAML, '--output_dir', join(dir, 'oracle')],
        /^init_checkpoint: .*oracle already exists \(a directory\); choose another --output_dir$/,
      ],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['init_checkpoint', ...args], { source: true });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr.trim(), message);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.ok(!existsSync(out));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.')),
      [],
      'no temporary left',
    );
  });

  it('removes its temporary folder when interrupted, leaving no output', async () => {
    const out = join(dir, 'interrupted');
    const big = [
      '--model.model_config.hidden_size',
      '512',
      '--model.model_config.num_layers',
      '12',
      '--model.model_config.num_heads',
      '8',
    ];
    const run = startCli(['init_checkpoint', '--config', TINY_YAML, '--output_dir', out, '--dtype', 'f32', ...big], {
      source: true,
    });
    const poll = setInterval(() => {
      if (readdirSync(dir).some((f) => f.startsWith('.interrupted.partial'))) {
        clearInterval(poll);
        run.child.kill('SIGINT');
      }
    }, 20);
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.ok(!existsSync(out));
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.startsWith('.')),
      [],
    );
  });
});
