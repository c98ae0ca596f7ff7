/**
 * A run's hold on its output folder (the bundled CLI, in a scratch folder): a second run, eval,
 * predict or launcher job into the folder of a live run is refused with one line naming its
 * process, a lock left by a killed run is taken over; a new run into a folder that holds
 * checkpoints is refused, naming --resume_training True and how to start afresh; temporaries
 * left by dead processes are swept at the start; SIGINT or SIGTERM during a checkpoint write
 * (one process, or a rank of msrun_launcher) leaves neither a temporary nor the lock, and a
 * SIGINT at any moment of a run stops it.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/runtime/random.ts';
import { alpacaQaShards, ROOT, runCli, startCli } from '../fixtures.ts';

const LOCK = '.wasmformers.lock';
let dir = '';
/** Every process started in the background, ended (if still running) when the tests end. */
const started: ChildProcess[] = [];

/** A tiny LoRA run's arguments (batch 1 over `samples` records of seq_length 128) into `out`. */
function tinyRun(out: string, samples: number, ...extra: string[]): string[] {
  return [
    'run_mindformer',
    '--config',
    join(ROOT, 'configs/llama2/lora_tiny.yaml'),
    '--train_dataset_dir',
    join(dir, 'qa128'),
    '--model.model_config.seq_length',
    '128',
    '--num_samples',
    String(samples),
    '--batch_size',
    '1',
    '--callbacks.1.save_checkpoint_steps',
    '1',
    '--output_dir',
    join(dir, out),
    ...extra,
  ];
}

/** Runs the bundled CLI in the scratch folder. */
const cli = (args: string[], env: Record<string, string> = {}) => runCli(args, { cwd: dir, env, timeoutMs: 120_000 });

/** Starts the bundled CLI in the background; `exit` resolves with its exit code (or signal) and stderr. */
function start(
  args: string[],
  env: Record<string, string> = {},
): { child: ChildProcess; exit: Promise<{ code: number | null; stderr: string }> } {
  const run = startCli(args, { cwd: dir, env });
  started.push(run.child);
  return {
    child: run.child,
    exit: run.done.then(({ code, signal, stderr }) => ({ code: code ?? (signal as unknown as number), stderr })),
  };
}

/** Waits until `ready()` holds (at most 60 s, and while `child` runs). */
async function until(ready: () => boolean, what: string, child: ChildProcess): Promise<void> {
  const t0 = Date.now();
  while (!ready()) {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the process ended (${child.exitCode ?? child.signalCode}) before ${what}`);
    if (Date.now() - t0 > 60_000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 10));
  }
}

/** Names of temporaries (`.<name>.partial-<pid>-<n>`) anywhere under a folder. */
function partials(folder: string): string[] {
  if (!existsSync(folder)) return [];
  return readdirSync(folder, { recursive: true, encoding: 'utf8' }).filter((p) =>
    /(^|\/)\.[^/]+\.partial-\d+-\d+$/.test(p),
  );
}

/** The pid of a process that has ended. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', ''], { stdio: 'ignore' });
  return r.pid!;
}

/** The one line a refused command printed. */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, stderr);
  return lines[0];
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'wasmformers-outdir-'));
  await alpacaQaShards(dir, 'qa128', 128, 48);
});
after(async () => {
  await Promise.all(
    started
      .filter((c) => c.exitCode === null && c.signalCode === null)
      .map(
        (c) =>
          new Promise((res) => {
            c.on('close', res);
            c.kill('SIGKILL');
          }),
      ),
  );
  rmSync(dir, { recursive: true, force: true });
});

describe('the output folder', () => {
  it("a second run, eval, predict or job into a live run's folder is refused naming its pid; the lock of a killed run is taken over", async () => {
    const live = start(tinyRun('busy', 16, '--epochs', '500'));
    const info = join(dir, 'busy/log/rank_0/info.log');
    await until(
      () => existsSync(info) && readFileSync(info, 'utf8').includes('loss: '),
      'the first run to train',
      live.child,
    );
    const pid = live.child.pid!;
    const inUse = new RegExp(
      `${join(dir, 'busy')} is in use by another run \\(process ${pid}, since [^)]+\\): wait for it to end or give another --output_dir`,
    );
    const second = await cli(tinyRun('busy', 16));
    assert.equal(second.code, 1);
    assert.match(oneLine(second.stderr), new RegExp(`^run_mindformer: ${inUse.source}$`));
    const evalArgs = [
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/lora_tiny.yaml'),
      '--run_mode',
      'eval',
      '--eval_dataset_dir',
      join(dir, 'qa128'),
      '--model.model_config.seq_length',
      '128',
      '--num_samples',
      '4',
      '--output_dir',
      join(dir, 'busy'),
    ];
    const ev = await cli(evalArgs);
    assert.equal(ev.code, 1);
    assert.match(oneLine(ev.stderr), inUse);
    const pr = await cli([
      'run_mindformer',
      '--config',
      join(ROOT, 'configs/llama2/lora_tiny.yaml'),
      '--run_mode',
      'predict',
      '--predict_data',
      'Hi',
      '--model.model_config.max_decode_length',
      '4',
      '--output_dir',
      join(dir, 'busy'),
    ]);
    assert.equal(pr.code, 1);
    assert.match(oneLine(pr.stderr), inUse);
    const job = await cli([
      'msrun_launcher',
      [...tinyRun('busy', 16), '--use_parallel', 'True', '--parallel_config.data_parallel', '2'].join(' '),
      '2',
      '8118',
      join(dir, 'busy-log'),
      'False',
      '30',
    ]);
    assert.equal(job.code, 1);
    assert.match(oneLine(job.stderr), new RegExp(`^msrun_launcher: rank 0 failed: ${inUse.source}; see `));
    assert.ok(!existsSync(join(dir, 'busy/log/rank_1')), "the refused job wrote nothing into the live run's folder");
    assert.equal(live.child.exitCode, null, 'the first run goes on');
    // Two jobs sharing a LOG_DIR would truncate each other's worker logs: the launcher holds it too.
    const logLive = start([
      'msrun_launcher',
      [
        ...tinyRun('job-a', 16, '--epochs', '500'),
        '--use_parallel',
        'True',
        '--parallel_config.data_parallel',
        '2',
      ].join(' '),
      '2',
      '8118',
      join(dir, 'shared-log'),
      'False',
      '30',
    ]);
    await until(
      () =>
        existsSync(join(dir, 'shared-log/worker_0.log')) &&
        readFileSync(join(dir, 'shared-log/worker_0.log'), 'utf8').includes('loss: '),
      'the job to train',
      logLive.child,
    );
    const logSecond = await cli([
      'msrun_launcher',
      [...tinyRun('job-b', 16), '--use_parallel', 'True', '--parallel_config.data_parallel', '2'].join(' '),
      '2',
      '8118',
      join(dir, 'shared-log'),
      'False',
      '30',
    ]);
    assert.equal(logSecond.code, 1);
    assert.match(
      oneLine(logSecond.stderr),
      new RegExp(
        `^msrun_launcher: ${join(dir, 'shared-log')} is in use by another run \\(process ${logLive.child.pid}, since [^)]+\\): wait for it to end or give another LOG_DIR`,
      ),
    );
    assert.ok(
      readFileSync(join(dir, 'shared-log/worker_0.log'), 'utf8').includes('loss: '),
      "the live job's worker log is intact",
    );
    logLive.child.kill('SIGKILL');
    live.child.kill('SIGKILL');
    await live.exit;
    await logLive.exit;
    // The killed run's lock names a process that is gone: the next run (here an eval) takes it over.
    assert.equal(JSON.parse(readFileSync(join(dir, 'busy', LOCK), 'utf8')).pid, pid);
    const next = await cli(evalArgs);
    assert.equal(next.code, 0, next.stderr);
    assert.ok(!existsSync(join(dir, 'busy', LOCK)), 'the lock is released at the end');
  });

  it('a new run into a folder that holds checkpoints is refused, naming --resume_training True and how to start afresh', async () => {
    const first = await cli(tinyRun('again', 8));
    assert.equal(first.code, 0, first.stderr);
    const before = readFileSync(join(dir, 'again/log/rank_0/info.log'), 'utf8');
    const second = await cli(tinyRun('again', 8));
    assert.equal(second.code, 1);
    assert.match(
      oneLine(second.stderr),
      new RegExp(
        `^run_mindformer: ${join(dir, 'again')} already holds checkpoints \\(checkpoint/rank_0/tiny_lora_rank_0-1_\\d+\\.safetensors, \\d+ in all\\): ` +
          'give --resume_training True to continue that run, or another --output_dir \\(or remove the folder\\) to start afresh$',
      ),
    );
    assert.equal(
      readFileSync(join(dir, 'again/log/rank_0/info.log'), 'utf8'),
      before,
      "the first run's log is untouched",
    );
  });

  it("a start sweeps the temporaries of dead processes from the folders the run writes and keeps a live process's; a resume past the run's end is refused", async () => {
    const first = await cli(tinyRun('sweep', 8, '--run_mode', 'finetune'));
    assert.equal(first.code, 0, first.stderr);
    const dead = deadPid(),
      folder = join(dir, 'sweep');
    const left = [
      `checkpoint/rank_0/.tiny_lora_rank_0-1_9.safetensors.partial-${dead}-0`,
      `.report.html.partial-${dead}-3`,
      `checkpoint/rank_0/.meta.json.partial-${dead}-1`,
    ];
    for (const f of left) writeFileSync(join(folder, f), 'half');
    mkdirSync(join(folder, `.adapter.partial-${dead}-2`));
    const liveOne = `checkpoint/rank_0/.other.safetensors.partial-${process.pid}-0`;
    writeFileSync(join(folder, liveOne), 'being written');
    const r = await cli(tinyRun('sweep', 8, '--resume_training', 'True', '--epochs', '2'));
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(partials(folder), [liveOne]);
    // A resume with fewer epochs than the checkpoint has done is refused, not ended as finished.
    const fewer = await cli(tinyRun('sweep', 8, '--resume_training', 'True', '--epochs', '1'));
    assert.equal(fewer.code, 1, fewer.stdout);
    assert.match(
      oneLine(fewer.stderr),
      /^run_mindformer: --resume_training: the checkpoint is at global step 16, past this run's last step 8 \(epochs 1 × 8 steps\)$/,
    );
  });

  it('SIGINT during a checkpoint write of one process exits 130 and leaves no temporary and no lock', async () => {
    const run = start(tinyRun('sigint', 16), { WASMFORMERS_FAULT: '0:3:hang:save' });
    const folder = join(dir, 'sigint/checkpoint/rank_0');
    await until(
      () => partials(folder).some((p) => p.startsWith('.tiny_lora_rank_0-1_3.safetensors.partial-')),
      'the write of step 3',
      run.child,
    );
    run.child.kill('SIGINT');
    const { code } = await run.exit;
    assert.equal(code, 130);
    assert.deepEqual(partials(join(dir, 'sigint')), []);
    assert.ok(!existsSync(join(dir, 'sigint', LOCK)), 'the lock is released');
    assert.deepEqual(
      readdirSync(folder)
        .filter((f) => f.endsWith('.safetensors'))
        .sort(),
      ['tiny_lora_rank_0-1_1.safetensors', 'tiny_lora_rank_0-1_2.safetensors'],
    );
  });

  it('SIGINT at 6 seeded moments of a run that saves every step always stops it, and never leaves a checkpoint temporary', async () => {
    const rng = new Rng(11);
    for (let k = 0; k < 6; k++) {
      const out = `ctrl-c-${k}`,
        run = start(tinyRun(out, 48, '--epochs', '50'));
      const info = join(dir, out, 'log/rank_0/info.log'),
        after = 1 + rng.int(3);
      await until(
        () => existsSync(info) && (readFileSync(info, 'utf8').match(/loss: /g)?.length ?? 0) >= after,
        `step ${after}`,
        run.child,
      );
      await new Promise((res) => setTimeout(res, rng.int(30)));
      const t0 = Date.now();
      run.child.kill('SIGINT');
      const { code } = await Promise.race([
        run.exit,
        new Promise<{ code: string }>((res) => setTimeout(() => res({ code: 'still running' }), 5000)),
      ]);
      const steps = () => readFileSync(info, 'utf8').match(/loss: /g)?.length;
      assert.ok(
        code === 130 || code === 'SIGINT',
        `SIGINT ${k}: ${code} after ${Date.now() - t0} ms, at step ${after}, now ${steps()} ${readdirSync(join(dir, out, 'checkpoint/rank_0'))}`,
      );
      assert.deepEqual(
        partials(join(dir, out)).filter((p) => p.includes('.safetensors.partial-')),
        [],
        `SIGINT ${k}`,
      );
    }
  });

  it('SIGTERM to msrun_launcher while a rank writes a checkpoint exits 143 and leaves no temporary and no lock', async () => {
    const job = start(
      [
        'msrun_launcher',
        [...tinyRun('sigterm', 16), '--use_parallel', 'True', '--parallel_config.data_parallel', '2'].join(' '),
        '2',
        '8118',
        join(dir, 'sigterm-log'),
        'False',
        '30',
      ],
      { WASMFORMERS_FAULT: '1:3:hang:save' },
    );
    await until(
      () =>
        partials(join(dir, 'sigterm/checkpoint/rank_1')).some((p) =>
          p.startsWith('.tiny_lora_rank_1-1_3.safetensors.partial-'),
        ),
      "rank 1's write of step 3",
      job.child,
    );
    job.child.kill('SIGTERM');
    const { code, stderr } = await job.exit;
    assert.equal(code, 143, stderr);
    assert.deepEqual(partials(join(dir, 'sigterm')), []);
    assert.ok(
      !existsSync(join(dir, 'sigterm', LOCK)) && !existsSync(join(dir, 'sigterm-log', LOCK)),
      'the locks are released',
    );
  });
});
