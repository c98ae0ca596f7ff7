/**
 * Resuming a 2-rank data-parallel job (the bundled CLI, in a scratch folder): ranks whose last
 * checkpoints are a save apart resume from the newest step both hold and end with the
 * uninterrupted run's checkpoints; ranks with no step in common are refused with one line; a
 * resume with other batch settings is refused with one line; and 20 SIGKILLs of the launcher at
 * seeded moments (some inside one rank's checkpoint write, the other rank's write done) each
 * resume to the uninterrupted checkpoints, with no temporary outliving the next start and no hang.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile } from '../../src/checkpoint/safetensors.ts';
import { Rng } from '../../src/runtime/random.ts';
import { alpacaQaShards, ROOT, runCli, startCli } from '../fixtures.ts';

const RANKS = [0, 1];
let dir = '';

/** The run_mindformer command line of a tiny LoRA run of 2 data-parallel ranks, batch 1 each, over `samples` records. */
function rankCommand(out: string, samples: number, extra: string): string {
  return (
    `run_mindformer --config ${join(ROOT, 'configs/llama2/lora_tiny.yaml')} --train_dataset_dir ${join(dir, 'qa128')} ` +
    `--model.model_config.seq_length 128 --num_samples ${samples} --batch_size 1 --seed 3 --output_dir ${join(dir, out)} ` +
    `--use_parallel True --parallel_config.data_parallel 2 ${extra}`
  );
}

/** msrun_launcher's arguments for that run, its worker logs in `logDir`, a 30 s cluster time-out. */
function jobArgs(out: string, samples: number, extra: string, logDir = join(out, 'msrun_log')): string[] {
  return ['msrun_launcher', rankCommand(out, samples, extra), '2', '8118', join(dir, logDir), 'False', '30'];
}

/** Runs the bundled CLI in the scratch folder (at most 120 s). */
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: dir, env, timeoutMs: 120_000 });

/** Every training checkpoint of a run: `rank_<r>/<file>` → its metadata and tensors. */
function checkpoints(
  out: string,
): Map<string, { metadata: Record<string, string>; tensors: Map<string, Float32Array> }> {
  const all = new Map<string, { metadata: Record<string, string>; tensors: Map<string, Float32Array> }>();
  for (const r of RANKS) {
    const folder = join(dir, out, 'checkpoint', `rank_${r}`);
    for (const file of readdirSync(folder)
      .filter((f) => f.endsWith('.safetensors'))
      .sort()) {
      const f = SafetensorsFile.open(join(folder, file));
      try {
        all.set(`rank_${r}/${file}`, {
          metadata: f.metadata,
          tensors: new Map([...f.tensors.keys()].map((n) => [n, Float32Array.from(f.readF32(n))])),
        });
      } finally {
        f.close();
      }
    }
  }
  return all;
}

/** Optimizer steps per epoch of every run here (the fault test's two epochs of 64 records; the others' one of 24). */
const perEpoch = (samples: number) => samples / 2;

/** The global steps of rank r's complete checkpoints in a run, ascending. */
function heldSteps(out: string, r: number, samples = 24): number[] {
  const folder = join(dir, out, 'checkpoint', `rank_${r}`);
  if (!existsSync(folder)) return [];
  return readdirSync(folder)
    .map((f) => /^tiny_lora_rank_\d+-(\d+)_(\d+)\.safetensors$/.exec(f))
    .filter((m) => m)
    .map((m) => (Number(m![1]) - 1) * perEpoch(samples) + Number(m![2]))
    .sort((a, b) => a - b);
}

/** rank r's checkpoint file of global step g. */
function fileOf(r: number, g: number, samples: number): string {
  const epoch = Math.floor((g - 1) / perEpoch(samples)) + 1;
  return `tiny_lora_rank_${r}-${epoch}_${g - (epoch - 1) * perEpoch(samples)}.safetensors`;
}

/** Temporaries (`.<name>.partial-<pid>-<n>`) anywhere under a folder, with their pids. */
function partials(folder: string): { path: string; pid: number }[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { recursive: true, encoding: 'utf8' })
    .map((p) => ({ path: p, m: /(?:^|\/)\.[^/]+\.partial-(\d+)-\d+$/.exec(p) }))
    .filter((x) => x.m)
    .map((x) => ({ path: x.path, pid: Number(x.m![1]) }));
}

/** rank r's checkpoint folder keeps only the steps in `keep`; meta.json names the newest, as a rank's save leaves it. */
function keepOnly(out: string, r: number, keep: number[]): void {
  const folder = join(dir, out, 'checkpoint', `rank_${r}`);
  for (const step of heldSteps(out, r))
    if (!keep.includes(step)) rmSync(join(folder, `tiny_lora_rank_${r}-1_${step}.safetensors`));
  const last = Math.max(...keep);
  writeFileSync(
    join(folder, 'meta.json'),
    JSON.stringify({
      last_epoch: 1,
      last_step: last,
      last_ckpt_file: `tiny_lora_rank_${r}-1_${last}.safetensors`,
      global_step: last,
    }),
  );
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wasmformers-resume-'));
  await alpacaQaShards(dir, 'qa128', 128, 80);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('resuming a 2-rank job', () => {
  const every5 = '--callbacks.1.save_checkpoint_steps 5 --callbacks.1.keep_checkpoint_max 5';

  it('ranks a save apart (rank 0 at step 10, rank 1 at step 5) resume from step 5 and end with the uninterrupted checkpoints', async () => {
    const whole = await cli(jobArgs('skew-whole', 24, every5));
    assert.equal(whole.code, 0, whole.stderr);
    assert.deepEqual(heldSteps('skew-whole', 0), [5, 10, 12]);
    assert.ok(whole.stdout.includes(`Please check log files in ${join(dir, 'skew-whole/msrun_log')}\n`), whole.stdout);
    // The launcher died after rank 0's write of step 10 and before rank 1's.
    cpSync(join(dir, 'skew-whole/checkpoint'), join(dir, 'skew/checkpoint'), { recursive: true });
    keepOnly('skew', 0, [5, 10]);
    keepOnly('skew', 1, [5]);
    const r = await cli(jobArgs('skew', 24, `${every5} --resume_training True`));
    assert.equal(r.code, 0, r.stderr);
    for (const k of RANKS)
      assert.match(
        readFileSync(join(dir, `skew/log/rank_${k}/info.log`), 'utf8'),
        /resuming from \S+tiny_lora_rank_\d-1_5\.safetensors: epoch 1, step 5, global step 5/,
      );
    assert.deepEqual(checkpoints('skew'), checkpoints('skew-whole'));
    for (const k of RANKS)
      assert.deepEqual(
        JSON.parse(readFileSync(join(dir, `skew/checkpoint/rank_${k}/meta.json`), 'utf8')),
        JSON.parse(readFileSync(join(dir, `skew-whole/checkpoint/rank_${k}/meta.json`), 'utf8')),
      );
  });

  it("ranks with no step in common are refused at once with one line naming each rank's steps", async () => {
    cpSync(join(dir, 'skew-whole/checkpoint'), join(dir, 'apart/checkpoint'), { recursive: true });
    keepOnly('apart', 0, [10]);
    keepOnly('apart', 1, [5]);
    const r = await cli(jobArgs('apart', 24, `${every5} --resume_training True`));
    assert.equal(r.code, 1, r.stdout);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(
      r.stderr,
      /rank \d failed: --resume_training: no step has a checkpoint on every rank \(rank 0: step 10; rank 1: step 5\)/,
    );
    assert.deepEqual(heldSteps('apart', 0), [10], 'nothing was removed');
  });

  it('a resume with another batch_size, gradient_accumulation_steps, num_samples or seed is refused with one line naming old and new', async () => {
    const stop = await cli(jobArgs('batch', 24, '--callbacks.1.save_checkpoint_steps 1'), {
      WASMFORMERS_FAULT: '1:5:throw',
    });
    assert.equal(stop.code, 1, stop.stdout);
    assert.deepEqual(heldSteps('batch', 0), [3, 4]);
    for (const [flag, was, now] of [
      ['batch_size', 1, 2],
      ['gradient_accumulation_steps', 1, 2],
      ['num_samples', 24, 16],
      ['seed', 3, 4],
    ] as const) {
      const r = await cli(
        jobArgs('batch', 24, `--callbacks.1.save_checkpoint_steps 1 --resume_training True --${flag} ${now}`),
      );
      assert.equal(r.code, 1, `${flag}: ${r.stdout}`);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      const setting = flag === 'num_samples' ? 'records' : flag;
      assert.match(
        r.stderr,
        new RegExp(
          `rank \\d failed: --resume_training: \\S+tiny_lora_rank_\\d-1_4\\.safetensors was written with ${setting} ${was}, this run has ${setting} ${now}`,
        ),
        flag,
      );
    }
    const same = await cli(jobArgs('batch', 24, '--callbacks.1.save_checkpoint_steps 1 --resume_training True'));
    assert.equal(same.code, 0, same.stderr);
  });

  it("20 SIGKILLs of the launcher at seeded moments, 7 inside one rank's checkpoint write with the other's done, each resume to the uninterrupted checkpoints", async () => {
    const samples = 64,
      steps = 2 * perEpoch(samples);
    const args =
      '--epochs 2 --callbacks.1.save_checkpoint_steps 1 --callbacks.1.keep_checkpoint_max 1 --model.model_config.pet_config.lora_dropout 0.1';
    const whole = await cli(jobArgs('kill-whole', samples, args));
    assert.equal(whole.code, 0, whole.stderr);
    const out = 'kill',
      folder = join(dir, out),
      rng = new Rng(7);
    let kills = 0,
      inWrite = 0;
    for (let cycle = 0; ; cycle++) {
      const held = RANKS.map((r) => heldSteps(out, r, samples));
      const resume = held.some((h) => h.length) ? ' --resume_training True' : '';
      const common = Math.min(...held.map((h) => h.at(-1) ?? 0));
      // Every third kill: one rank stops halfway through its write of a step the run reaches, and
      // the launcher is killed once the other rank's checkpoint of that step is complete. The
      // others: after 0 (during the start), 1 or 2 loss lines of rank 0, and a random delay.
      const faultRank = rng.int(2),
        faultStep = common + 1 + rng.int(2),
        other = 1 - faultRank;
      const inside = kills < 20 && kills % 3 === 1 && faultStep <= steps;
      const afterLines = rng.int(3),
        delay = afterLines === 0 ? 150 + rng.int(500) : rng.int(40);
      const logDir = join(out, 'msrun_log', String(cycle)),
        workerLog = join(dir, logDir, 'worker_0.log');
      const run = startCli(jobArgs(out, samples, args + resume, logDir), {
          cwd: dir,
          env: inside ? { WASMFORMERS_FAULT: `${faultRank}:${faultStep}:hang:save` } : {},
        }),
        child = run.child;
      let done = false;
      const exited = run.done.then(({ code }) => {
        done = true;
        return code;
      });
      const hung = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const t0 = performance.now();
      let killed = false,
        sweptChecked = false,
        armedAt = -1;
      while (!done) {
        await new Promise((res) => setTimeout(res, 5));
        const log = existsSync(workerLog) ? readFileSync(workerLog, 'utf8') : '';
        const lines = log.match(/loss: /g)?.length ?? 0;
        if (lines > 0 && !sweptChecked) {
          // Training has begun, so the folder was claimed: no temporary of a finished process is left.
          assert.deepEqual(
            partials(folder).filter((p) => p.pid !== child.pid),
            [],
            `cycle ${cycle}: temporaries of a dead process after the start`,
          );
          sweptChecked = true;
        }
        if (killed || kills >= 20) continue;
        let due: boolean;
        if (inside) {
          due =
            existsSync(join(folder, 'checkpoint', `rank_${other}`, fileOf(other, faultStep, samples))) &&
            partials(join(folder, 'checkpoint', `rank_${faultRank}`)).some((p) =>
              p.path.startsWith(`.${fileOf(faultRank, faultStep, samples)}.partial-`),
            );
        } else {
          if (armedAt < 0 && lines >= afterLines) armedAt = performance.now();
          due = armedAt >= 0 && performance.now() - armedAt >= delay;
        }
        if (due) {
          child.kill('SIGKILL');
          killed = true;
        }
      }
      clearTimeout(hung);
      const code = await exited;
      assert.ok(performance.now() - t0 < 60_000, `cycle ${cycle} hung`);
      if (!killed) {
        assert.equal(code, 0, `cycle ${cycle}: the run ended with ${code}; see ${logDir}`);
        break;
      }
      kills++;
      if (inside) {
        inWrite++;
        assert.ok(
          heldSteps(out, other, samples).includes(faultStep) && !heldSteps(out, faultRank, samples).includes(faultStep),
          `cycle ${cycle}: the ranks' writes were out of step`,
        );
      }
    }
    assert.equal(kills, 20);
    assert.equal(inWrite, 7);
    assert.deepEqual(partials(folder), [], 'no temporary is left');
    assert.deepEqual(checkpoints(out), checkpoints('kill-whole'));
  });
});
