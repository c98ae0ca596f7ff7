/**
 * The seed's model on this machine (`npm run bench:7b`, not part of `npm run bench`: it takes
 * tens of minutes): Llama2-7B's shape (configs/llama2/lora_llama2_7b.yaml) with random bf16
 * weights from init_checkpoint (or the Hugging Face folder in WASMFORMERS_7B), LoRA-fine-tuned by
 * 2 ranks (msrun_launcher, batch 1 per rank, seq_length 64, 2 steps) with bf16, int8 and q4_0
 * base weights, then 8 tokens predicted. Layers stream where the resident plan passes 4 GiB
 * (stream_layers auto): bf16 and int8 always; q4_0 (3.53 GiB of weights) when fine-tuning, whose
 * LoRA state and activations take it to 4.5 GiB even on one rank, but not when predicting. Prints load time, seconds per step, tokens/s per rank,
 * predict's decoding tokens/s (its info.log timing line) and the whole process's peak resident memory. `--dtypes q4_0` (any of bfloat16, int8, q4_0) runs
 * only those.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measuredCli, stepTimesMs } from './measured.ts';

const ROOT = new URL('../', import.meta.url).pathname;
const CLI = join(ROOT, 'dist/src/cli.js'),
  CONFIG = join(ROOT, 'configs/llama2/lora_llama2_7b.yaml');

const dir = mkdtempSync(join(tmpdir(), 'wasmformers-bench-7b-'));
try {
  let weights = process.env.WASMFORMERS_7B;
  if (!weights) {
    const free = statfsSync(dir).bavail * statfsSync(dir).bsize;
    if (free < 20e9)
      throw new Error(
        `${dir}: ${(free / 1e9).toFixed(1)} GB free; the 7B checkpoint takes 13.5 GB (or set WASMFORMERS_7B to a Hugging Face folder)`,
      );
    weights = join(dir, 'llama2-7b');
    const t0 = performance.now();
    execFileSync(
      process.execPath,
      [CLI, 'init_checkpoint', '--config', CONFIG, '--dtype', 'bf16', '--seed', '0', '--output_dir', weights],
      { stdio: 'inherit' },
    );
    console.log(`init_checkpoint: ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  // Alpaca's instructions and answers as plain text (wiki shards): at seq_length 64 the qa
  // template's prompt alone fills the rows, leaving no answer token to learn from.
  const records: { instruction: string; output: string }[] = JSON.parse(
    readFileSync(join(ROOT, '../shared/data/alpaca/alpaca_5000.json'), 'utf8'),
  ).slice(0, 64);
  writeFileSync(join(dir, 'alpaca.txt'), records.map((r) => `${r.instruction}\n${r.output}\n`).join('\n'));
  execFileSync(process.execPath, [
    CLI,
    'llama_preprocess',
    '--dataset_type',
    'wiki',
    '--input_glob',
    join(dir, 'alpaca.txt'),
    '--seq_length',
    '64',
    '--output_file',
    join(dir, 's64'),
    '--workers',
    '0',
  ]);
  console.log('\nLlama2-7B shape, LoRA (wq wk wv wo, rank 16) on 2 ranks, batch 1 per rank, seq_length 64:');
  // --dtypes a,b runs only those storages (default all three).
  const at = process.argv.indexOf('--dtypes'),
    dtypes = at >= 0 ? process.argv[at + 1].split(',') : ['bfloat16', 'int8', 'q4_0'];
  for (const dtype of dtypes) {
    const out = join(dir, `out-${dtype}`);
    const common = `--config ${CONFIG} --model.model_config.param_init_type ${dtype} --model.model_config.seq_length 64 --output_dir ${out}`;
    const ft = measuredCli(dir, [
      'msrun_launcher',
      `run_mindformer ${common} --load_checkpoint ${weights} --train_dataset_dir ${join(dir, 's64')} --run_mode finetune ` +
        '--use_parallel True --parallel_config.data_parallel 2 --batch_size 1 --num_samples 4 --epochs 1 --callbacks.1.save_checkpoint_steps 1000',
      '2',
    ]);
    const log = readFileSync(join(dir, 'output/msrun_log/worker_0.log'), 'utf8');
    const steps = stepTimesMs(log).map((ms) => ms / 1000);
    const last = steps.at(-1)!;
    const pred = measuredCli(dir, [
      'run_mindformer',
      ...common.split(' '),
      '--load_checkpoint',
      join(out, 'adapter'),
      '--run_mode',
      'predict',
      '--use_parallel',
      'False',
      '--predict_data',
      'I love Beijing, because',
      '--model.model_config.max_decode_length',
      '17',
    ]);
    // predict's timing line in info.log: the prompt's forward pass with the first token, then the decoding rate
    const gen =
      /generation: (\d+) prompt tokens, the first new token after (\S+) s, then (\d+) at (\S+) tokens\/s/.exec(
        readFileSync(join(out, 'log/rank_0/info.log'), 'utf8'),
      );
    const decoding = gen ? `prompt (${gen[1]} tokens) ${gen[2]} s, then ${gen[4]} tokens/s decoding` : 'no timing line';
    console.log(
      `  ${dtype.padEnd(8)}: fine-tuning job ${ft.seconds.toFixed(0)} s in all, steps ${steps.map((s) => s.toFixed(1)).join(' s, ')} s ` +
        `(${(64 / last).toFixed(2)} tokens/s per rank), peak RSS ${(ft.rssBytes / 2 ** 30).toFixed(2)} GiB; predict 8 tokens: ${pred.seconds.toFixed(0)} s in all ` +
        `(${decoding}), peak RSS ${(pred.rssBytes / 2 ** 30).toFixed(2)} GiB`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
