/**
 * `wasmformers init_checkpoint --config C [--a.b.c value ...] [--dtype bf16|f32] [--seed N]
 * --output_dir D [--max_shard_size 5GB]`: writes a randomly initialised model of the config's
 * shape (`model.model_config`, after the nested overrides) as a Hugging Face folder: config.json
 * and safetensors shards `model-0000k-of-0000N.safetensors` with `model.safetensors.index.json`
 * (one `model.safetensors` when it fits in one shard, as transformers does). The values are
 * `initRandom`'s for the seed (default: the config's `seed`) and `initializer_range`, so the
 * folder loads to the model run_mindformer would start training from. Tensors are streamed to
 * disk in pieces (memory stays small even for 7B), under a hidden temporary folder renamed
 * into place when complete; the output must not exist.
 */
import { prepareNewOutput } from '../io/atomic.ts';
import { loadRunConfig } from '../config/load.ts';
import { configFromMindFormers } from '../model/config.ts';
import { randomTensors } from '../checkpoint/random_init.ts';
import { tensorBytes } from '../checkpoint/dtypes.ts';
import { writeTensors } from '../checkpoint/write.ts';
import { parseFlags } from './flags.ts';
import { ProgressBar } from './progress.ts';

const DTYPES = { bf16: 'BF16', f32: 'F32' } as const;

/** Bytes per unit of --max_shard_size (transformers' meaning: GB = 10^9, GiB = 2^30). */
const UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 2 ** 10,
  mib: 2 ** 20,
  gib: 2 ** 30,
  tib: 2 ** 40,
};

/** A size such as `2GB`, `500MiB` or `1000000` (bytes); `flag` names it in errors. */
function parseSize(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? UNITS[m[2].toLowerCase()] : undefined;
  const bytes = m && unit ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!(bytes > 0)) throw new Error(`${flag} takes a size such as 2GB, 500MB or 1GiB, got '${text}'`);
  return bytes;
}

/** Splits argv into this command's flags and the nested `--a.b.c value` config overrides. */
function splitOverrides(argv: string[]): { own: string[]; overrides: string[] } {
  const own: string[] = [],
    overrides: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i].startsWith('--') ? argv[i].slice(2).split('=')[0] : '';
    const into = name.includes('.') ? overrides : own;
    into.push(argv[i]);
    if (into === overrides && !argv[i].includes('=') && i + 1 < argv.length && !argv[i + 1].startsWith('--'))
      into.push(argv[++i]);
  }
  return { own, overrides };
}

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const { own, overrides } = splitOverrides(argv);
  const f = parseFlags(own, {
    config: { kind: 'string', required: true },
    output_dir: { kind: 'string', required: true },
    dtype: { kind: 'string', default: 'bf16' },
    seed: { kind: 'number' },
    max_shard_size: { kind: 'string', default: '5GB' },
  });
  const dtypeName = String(f.dtype);
  if (!Object.hasOwn(DTYPES, dtypeName)) throw new Error(`--dtype takes bf16 or f32, got '${dtypeName}'`);
  const dtype = DTYPES[dtypeName as keyof typeof DTYPES];
  if (f.seed !== undefined && !(Number.isInteger(f.seed) && (f.seed as number) >= 0 && (f.seed as number) < 2 ** 32)) {
    throw new Error(`--seed takes an integer from 0 to 4294967295, got ${f.seed}`);
  }
  const maxShardBytes = parseSize(String(f.max_shard_size), '--max_shard_size');
  const configPath = String(f.config),
    output = String(f.output_dir);
  const run = loadRunConfig(configPath, overrides);
  const config = configFromMindFormers(run.model.model_config, `${configPath}: model.model_config`);
  const seed = (f.seed as number | undefined) ?? run.seed;
  prepareNewOutput(output, '--output_dir');

  const tensors = randomTensors(config, seed, run.model.model_config.initializer_range, dtype);
  const total = tensors.reduce((s, t) => s + tensorBytes(t.info.dtype, t.info.shape), 0);
  const params = total / tensorBytes(dtype, [1]);
  console.log(
    `Initialising a random Llama (hidden ${config.dim}, ${config.nLayers} layers, vocab ${config.vocabSize}: ${params.toLocaleString('en')} parameters, ${(total / 1e9).toFixed(2)} GB in ${dtypeName}) with seed ${seed}.`,
  );
  const bar = new ProgressBar(tensors.length, 'tensors');
  let done = 0;
  try {
    await writeTensors(output, 'hf', tensors, { config, maxShardBytes, onTensor: () => bar.update(++done) });
  } finally {
    bar.done();
  }
  console.log(`Random checkpoint saved in '${output}'.`);
  return 0;
}
