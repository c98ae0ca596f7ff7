/**
 * End-to-end fine-tuning benchmark, part of `npm run bench`: `run_mindformer --run_mode finetune`
 * with configs/llama2/lora_stories15m.yaml (B 8, S 256, one rank) on shards of the real Alpaca
 * records — data loading, forward, backward, clipping, AdamW, logging — beside a PyTorch LoRA
 * fine-tuning loop (test/reference/llama_ref.py) on the same batches and model shape, each on 1
 * and 2 threads, in the same run.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunConfig } from '../src/config/load.ts';
import { ShardDataset } from '../src/data/shard_reader.ts';
import { epochOrder } from '../src/data/sampler.ts';
import { writeSafetensors } from '../src/checkpoint/safetensors.ts';
import { alpacaShards, medianStepMs, torchLoraRate } from './measured.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli.js'),
  CONFIG = join(ROOT, 'configs/llama2/lora_stories15m.yaml');
const STEPS = 6;

const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-ft-'));
try {
  const node = (...args: string[]) => execFileSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd: dir });
  alpacaShards(dir, 256);
  const cfg = loadRunConfig(CONFIG, [], () => undefined),
    B = cfg.runner_config.batch_size;
  // Ours: the whole command; the median step time of the steps after the first.
  const ours = (threads: number) => {
    const log = node(
      'run_mindformer',
      '--config',
      CONFIG,
      '--train_dataset_dir',
      join(dir, 'data'),
      '--num_samples',
      String(B * STEPS),
      '--output_dir',
      join(dir, `out${threads}`),
      '--threads',
      String(threads),
    );
    return (B * 256) / (medianStepMs(log) / 1000);
  };
  // PyTorch: the same batches, in the trainer's order.
  const data = ShardDataset.open(join(dir, 'data'));
  const order = epochOrder(B * STEPS, { seed: cfg.seed, epoch: 0, shuffle: true, rank: 0, ranks: 1 });
  const ids = new Int32Array(order.length * 257),
    labels = new Int32Array(order.length * 257);
  order.forEach((r, i) => {
    const rec = data.record(r);
    ids.set(rec.input_ids, i * 257);
    labels.set(rec.labels, i * 257);
  });
  data.close();
  writeSafetensors(join(dir, 'batches.safetensors'), [
    { name: 'input_ids', dtype: 'I32', shape: [order.length, 257], data: ids },
    { name: 'labels', dtype: 'I32', shape: [order.length, 257], data: labels },
  ]);
  const theirs = (threads: number) =>
    torchLoraRate(dir, {
      cfg,
      configPath: CONFIG,
      batchSize: B,
      steps: STEPS - 1,
      threads,
      batches: join(dir, 'batches.safetensors'),
    });
  console.log(`\nend-to-end LoRA fine-tuning, stories15M shape, B ${B}, S 256, one rank:`);
  for (const threads of [1, 2]) {
    const us = ours(threads),
      them = theirs(threads);
    console.log(
      `  ${threads} thread${threads > 1 ? 's' : ' '}: ${us.toFixed(0)} tokens/s` +
        (them
          ? ` = ${(us / them).toFixed(2)}× a PyTorch LoRA loop on the same batches (${them.toFixed(0)} tokens/s)`
          : ''),
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
