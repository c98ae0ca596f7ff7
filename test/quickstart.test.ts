/**
 * The quick start (`npm start`), shortened: the bundled script in a fresh folder, then again in
 * the same folder on "a user's own" data and checkpoint; the files where the seed puts them, the
 * held-out loss lower after fine-tuning than before, the console and summary lines; bad flags.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const script = join(root, 'dist', 'scripts', 'quickstart.js');
let cwd: string;

/** Runs the bundled quick start in `cwd`; stdout and stderr together. */
function quickstart(args: string[]): { code: number | null; out: string } {
  const r = spawnSync(process.execPath, [script, ...args], { cwd, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, out: r.stdout + r.stderr };
}

/** The held-out loss before and after, from the summary line. */
function losses(out: string): [number, number] {
  const m = /held-out eval \(\d+ records\): loss ([\d.]+) → ([\d.]+), perplexity/.exec(out);
  assert.ok(m, `no eval summary line in:\n${out.slice(-3000)}`);
  return [Number(m[1]), Number(m[2])];
}

before(() => {
  spawnSync(process.execPath, [join(root, 'tools', 'build.mjs'), '--if-stale'], { cwd: root, stdio: 'inherit' });
  cwd = mkdtempSync(join(tmpdir(), 'wasmformers-quickstart-'));
});
after(() => rmSync(cwd, { recursive: true, force: true }));

test('the built-in quick start, shortened: every file where the seed writes it, eval better after fine-tuning', () => {
  const { code, out } = quickstart(['--pretrain_epochs', '3', '--epochs', '4', '--prompts', '2']);
  assert.equal(code, 0, out.slice(-3000));
  for (const line of [
    'Transformed 490 records.', 'Transformed 41 records.', 'Transform finished, output files refer: output/quickstart/alpaca-fastchat96',
    'Start worker process with rank id:1, log file:output/msrun_log/worker_1.log. Environment variable [RANK_ID=1] is exported.',
    'Start worker process with rank id:0, log file:output/quickstart_train/msrun_log/worker_0.log.',
    "{'PerplexityMetric': {'loss': ", '{ Epoch:[  4/  4], step:[   61/   61], loss: ', 'answers before → after fine-tuning',
    `report: ${join(cwd, 'output', 'report.html')}`,
  ]) assert.ok(out.includes(line), `missing console line: ${line}`);
  for (const file of [
    'output/quickstart/alpaca-conversation.json', 'output/quickstart/alpaca-fastchat96/index.json', 'output/quickstart/heldout-fastchat96/index.json',
    'output/quickstart/pretrain96/index.json', 'output/quickstart_train/checkpoint/rank_0/meta.json',
    'output/msrun_log/worker_0.log', 'output/msrun_log/worker_1.log', 'output/log/rank_0/info.log', 'output/log/rank_1/info.log',
    'output/checkpoint/rank_0/meta.json', 'output/checkpoint/rank_1/meta.json', 'output/report.html', 'output/adapter/adapter_config.json',
  ]) assert.ok(existsSync(join(cwd, file)), `missing ${file}`);
  const [lossBefore, lossAfter] = losses(out);
  assert.ok(lossAfter < lossBefore - 0.3, `held-out loss ${lossBefore} → ${lossAfter}`);
});

test("a user's own data and checkpoint, in the folder of the previous run: no pre-training, the data split", () => {
  const base = join(cwd, 'base');
  cpSync(join(cwd, 'output', 'quickstart_train', 'checkpoint', 'rank_0'), base, { recursive: true });
  const { code, out } = quickstart([
    '--data_path', join(root, 'quickstart', 'alpaca_sample.json'), '--heldout', '20', '--load_checkpoint', base,
    '--config', join(root, 'configs', 'llama2', 'quickstart_lora.yaml'), '--epochs', '1', '--num_samples', '64', '--prompts', '1',
  ]);
  assert.equal(code, 0, out.slice(-3000));
  assert.match(out, /Removing the previous run's outputs: output\/quickstart, output\/quickstart_train, output\/msrun_log/);
  assert.match(out, /the first 470 records to fine-tune on \(output\/quickstart\/alpaca_train.json\), the last 20 held out/);
  assert.ok(!out.includes('Pre-train'), 'pre-trained although a checkpoint was given');
  assert.ok(!existsSync(join(cwd, 'output', 'quickstart_train')));
  losses(out);
});

test('bad flags: one line naming the flag, exit code 1', () => {
  for (const [args, message] of [
    [['--data_path', 'nowhere.json'], 'quickstart: --data_path nowhere.json: no such file'],
    [['--epochs', 'many'], "quickstart: --epochs takes a number, got 'many'"],
    [['--worker_num', '0'], 'quickstart: --worker_num takes a whole number of at least 1, got 0'],
    [['--load_checkpoint', '.', '--pretrain_epochs', '2'], 'quickstart: --pretrain_path, --train_config and --pretrain_epochs set the pre-training'],
    [['--colour', 'red'], 'quickstart: unknown flag --colour'],
  ] as const) {
    const { code, out } = quickstart([...args]);
    assert.equal(code, 1, out);
    assert.equal(out.trim().split('\n').length, 1, out);
    assert.ok(out.startsWith(message), `${out} should start with ${message}`);
  }
});
