/**
 * Data-parallel scaling benchmark, part of `npm run bench`: LoRA fine-tuning of the stories110M
 * shape (configs/llama2/lora_stories110m.yaml, B 4 per rank, S 256) on shards of the real Alpaca
 * records, as one rank (run_mindformer) on 1 thread, as 2 ranks of 1 thread (msrun_launcher), and
 * as one rank on 2 threads (the same cores used by threads inside the rank), beside the PyTorch LoRA
 * loop (test/reference/llama_ref.py) on 1 and 2 threads, in the same run. Prints tokens/s, the
 * scaling efficiency (2-rank tokens/s ÷ 2× one rank's) and each run's peak resident memory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunConfig } from '../src/config/load.ts';
import { alpacaShards, measuredCli, medianStepMs, torchLoraRate } from './measured.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const CONFIG = join(ROOT, 'configs/llama2/lora_stories110m.yaml');
const STEPS = 5;

const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-dp-'));
try {
  const data = alpacaShards(dir, 256);
  const cfg = loadRunConfig(CONFIG, [], () => undefined),
    B = cfg.runner_config.batch_size;
  const run = `run_mindformer --config ${CONFIG} --train_dataset_dir ${data} --callbacks.1.save_checkpoint_steps 1000`;
  const one = measuredCli(dir, [
    ...run.split(' '),
    '--num_samples',
    String(B * STEPS),
    '--output_dir',
    join(dir, 'one'),
    '--threads',
    '1',
  ]);
  const threaded = measuredCli(dir, [
    ...run.split(' '),
    '--num_samples',
    String(2 * B * STEPS),
    '--batch_size',
    String(2 * B),
    '--output_dir',
    join(dir, 'threaded'),
    '--threads',
    '2',
  ]);
  const two = measuredCli(dir, [
    'msrun_launcher',
    `${run} --num_samples ${2 * B * STEPS} --output_dir ${join(dir, 'two')} --use_parallel True --parallel_config.data_parallel 2 --threads 1`,
    '2',
  ]);
  const oneRate = (B * 256) / (medianStepMs(one.stdout) / 1000),
    threadedRate = (2 * B * 256) / (medianStepMs(threaded.stdout) / 1000);
  const twoRate =
    (2 * B * 256) / (medianStepMs(readFileSync(join(dir, 'output/msrun_log/worker_0.log'), 'utf8')) / 1000);
  const torch = (threads: number) =>
    torchLoraRate(dir, { cfg, configPath: CONFIG, batchSize: B * threads, steps: STEPS - 1, threads });
  const t1 = torch(1),
    t2 = torch(2);
  const vs = (ours: number, theirs?: number) =>
    theirs ? ` = ${(ours / theirs).toFixed(2)}× PyTorch (${theirs.toFixed(0)} tokens/s)` : '';
  console.log(`\nLoRA fine-tuning, stories110M shape, B ${B} per rank, S 256:`);
  console.log(
    `  1 rank:  ${oneRate.toFixed(1)} tokens/s${vs(oneRate, t1)} on 1 thread; peak RSS ${(one.rssBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  console.log(
    `  2 ranks: ${twoRate.toFixed(1)} tokens/s${vs(twoRate, t2)} on 2 threads (global batch ${2 * B}); peak RSS ${(two.rssBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  console.log(
    `  1 rank, 2 threads: ${threadedRate.toFixed(1)} tokens/s${vs(threadedRate, t2)} (batch ${2 * B}); peak RSS ${(threaded.rssBytes / 2 ** 20).toFixed(0)} MiB`,
  );
  console.log(
    `  scaling efficiency ${(twoRate / (2 * oneRate)).toFixed(2)} (goal ≥ 0.9), of 2 threads ${(threadedRate / (2 * oneRate)).toFixed(2)}; memory of 2 ranks ${(two.rssBytes / one.rssBytes).toFixed(2)}× one rank's (goal ≤ 1.2)`,
  );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
