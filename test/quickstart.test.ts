/**
 * The quick start (`npm start`): the bundled script with its full settings in a fresh folder
 * (files where the seed puts them, console and summary lines, held-out answers exactly right
 * at most 10% before fine-tuning and at least 80% after, scored here from predict's own log
 * lines); bad inputs that leave that run's outputs as they were; the same folder again on "a
 * user's own" data and checkpoint; bad flags; and the packed package installed in a fresh
 * project, run with `npx wasmformers quickstart`.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, runCli } from './fixtures.ts';
import { bundledLlama2Model } from '../src/tokenizer/load.ts';

let cwd: string;

interface Record {
  instruction: string;
  output: string;
}
const sample = (name: string) => JSON.parse(readFileSync(join(ROOT, 'quickstart', name), 'utf8')) as Record[];

/** Runs the bundled quick start in `cwd`; stdout and stderr together. */
async function quickstart(args: string[]): Promise<{ code: number | null; out: string }> {
  const r = await runCli(args, { script: 'quickstart', cwd, timeoutMs: 300_000 });
  return { code: r.code, out: r.stdout + r.stderr };
}

/** The held-out loss before and after, from the summary line. */
function losses(out: string): [number, number] {
  const m = /held-out eval \(\d+ records\): loss ([\d.]+) → ([\d.]+), perplexity/.exec(out);
  assert.ok(m, `no eval summary line in:\n${out.slice(-3000)}`);
  return [Number(m[1]), Number(m[2])];
}

/** The answers in predict's log lines, in order: the text after the prompt's last "ASSISTANT:", trimmed. */
function loggedAnswers(log: string): string[] {
  return [...log.matchAll(/^\{'text_generation_text': \[(.*)\]\}$/gm)].map((m) => {
    const text = JSON.parse(m[1]) as string;
    return text.slice(text.lastIndexOf('ASSISTANT:') + 'ASSISTANT:'.length).trim();
  });
}

/** The list an instruction is about: its one-character words (no template word has one character). */
const listOf = (instruction: string) =>
  instruction
    .replace(/[?.:]/g, ' ')
    .split(/\s+/)
    .filter((w) => w.length === 1)
    .join(' ');

/** Every file under `dir` with its size and modification time. */
function snapshot(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name),
        s = statSync(p);
      if (s.isDirectory()) walk(p);
      else out.push(`${relative(dir, p)} ${s.size} ${s.mtimeMs}`);
    }
  };
  walk(dir);
  return out.sort();
}

before(() => {
  spawnSync(process.execPath, [join(ROOT, 'tools', 'build.mjs'), '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
  cwd = mkdtempSync(join(tmpdir(), 'wasmformers-quickstart-'));
});
after(() => rmSync(cwd, { recursive: true, force: true }));

test('the built-in sample: every held-out list is unseen, in the training records and in the pre-training text', () => {
  const train = sample('alpaca_sample.json'),
    heldOut = sample('alpaca_heldout.json');
  assert.ok(heldOut.length >= 40, `${heldOut.length} held-out records`);
  const trained = new Set(train.map((r) => listOf(r.instruction)));
  const paragraphs = readFileSync(join(ROOT, 'quickstart', 'pretrain.txt'), 'utf8')
    .split('\n\n')
    .map((p) => ` ${p.replace(/[.,\n]/g, ' ').trim()} `);
  for (const r of heldOut) {
    const list = listOf(r.instruction);
    assert.ok(
      list.length > 0 && !trained.has(list),
      `held-out list "${list}" (${r.instruction}) is a training record's`,
    );
    // Lists of one or two items are bound to occur in random text; three or more never do.
    if (list.split(' ').length >= 3)
      assert.ok(
        !paragraphs.some((p) => p.includes(` ${list} `)),
        `held-out list "${list}" is in the pre-training text`,
      );
  }
});

test('the built-in quick start as npm start runs it: every file where the seed writes it, held-out answers ≤ 10% right before fine-tuning, ≥ 80% after', async () => {
  const { code, out } = await quickstart([]);
  assert.equal(code, 0, out.slice(-3000));
  const heldOut = sample('alpaca_heldout.json');
  for (const line of [
    `Transformed ${sample('alpaca_sample.json').length} records.`,
    `Transformed ${heldOut.length} records.`,
    'Transform finished, output files refer: output/quickstart/alpaca-fastchat96',
    'Start worker process with rank id:1, log file:output/msrun_log/worker_1.log. Environment variable [RANK_ID=1] is exported.',
    'Start worker process with rank id:0, log file:output/quickstart_train/msrun_log/worker_0.log.',
    "{'PerplexityMetric': {'loss': ",
    '{ Epoch:[ 13/ 13], step:[   75/   75], loss: ',
    `report: ${join(cwd, 'output', 'report.html')}`,
  ])
    assert.ok(out.includes(line), `missing console line: ${line}`);
  for (const file of [
    'output/quickstart/alpaca-conversation.json',
    'output/quickstart/alpaca-fastchat96/index.json',
    'output/quickstart/heldout-fastchat96/index.json',
    'output/quickstart/pretrain96/index.json',
    'output/quickstart_train/checkpoint/rank_0/meta.json',
    'output/msrun_log/worker_0.log',
    'output/msrun_log/worker_1.log',
    'output/log/rank_0/info.log',
    'output/log/rank_1/info.log',
    'output/checkpoint/rank_0/meta.json',
    'output/checkpoint/rank_1/meta.json',
    'output/report.html',
    'output/adapter/adapter_config.json',
  ])
    assert.ok(existsSync(join(cwd, file)), `missing ${file}`);
  const [lossBefore, lossAfter] = losses(out);
  assert.ok(lossAfter < lossBefore - 1, `held-out loss ${lossBefore} → ${lossAfter}`);

  // Every held-out prompt was answered before and after: scored here from predict's log.
  const answers = loggedAnswers(readFileSync(join(cwd, 'output', 'log', 'rank_0', 'info.log'), 'utf8'));
  assert.equal(answers.length, 2 * heldOut.length);
  const right = (from: number) => heldOut.filter((r, i) => answers[from + i] === r.output).length;
  const [rightBefore, rightAfter] = [right(0), right(heldOut.length)];
  assert.ok(rightBefore <= 0.1 * heldOut.length, `${rightBefore} of ${heldOut.length} right before fine-tuning`);
  assert.ok(rightAfter >= 0.8 * heldOut.length, `${rightAfter} of ${heldOut.length} right after fine-tuning`);
  const percent = (n: number) => Math.round((100 * n) / heldOut.length);
  assert.ok(
    out.includes(
      `held-out answers exactly right: ${rightBefore} of ${heldOut.length} (${percent(rightBefore)}%) before fine-tuning → ` +
        `${rightAfter} of ${heldOut.length} (${percent(rightAfter)}%) after`,
    ),
    out.slice(-3000),
  );
  assert.equal(out.match(/^ {6}after: {2}"/gm)?.length, 8, 'the summary shows 8 answers');
});

test("bad inputs stop the next run with one line before anything is removed: the previous run's outputs stay", async () => {
  const earlier = snapshot(join(cwd, 'output'));
  const bad = (name: string, text: string) => {
    writeFileSync(join(cwd, name), text);
    return join(cwd, name);
  };
  for (const [args, message] of [
    [['--model_file', bad('tokenizer.model', 'not a tokenizer')], 'tokenizer.model'],
    [['--config', bad('lora.yaml', 'runner_config:\n  epochs: many\n')], 'lora.yaml'],
    [['--train_config', bad('train.yaml', 'model:\n  model_config:\n    hidden_size: -1\n')], 'train.yaml'],
    [['--data_path', bad('data.json', '[{"instruction": "Say hi."}]')], 'data.json'],
    [['--heldout_path', bad('heldout.json', '{"not": "a list"}')], 'heldout.json'],
    [['--pretrain_path', bad('empty.txt', '')], 'empty.txt'],
    [['--load_checkpoint', bad('model.safetensors', 'not safetensors')], 'model.safetensors'],
  ] as const) {
    const { code, out } = await quickstart([...args]);
    assert.equal(code, 1, out);
    assert.equal(out.trim().split('\n').length, 1, out);
    assert.match(out, new RegExp(`^quickstart: .*${message}`), out);
    assert.deepEqual(snapshot(join(cwd, 'output')), earlier, `${args.join(' ')} changed the outputs`);
  }
});

test("a user's own data, checkpoint and tokenizer folder, in the folder of the previous run: no pre-training, the data split", async () => {
  const base = join(cwd, 'base');
  cpSync(join(cwd, 'output', 'quickstart_train', 'checkpoint', 'rank_0'), base, { recursive: true });
  writeFileSync(join(base, 'tokenizer.model'), await bundledLlama2Model()); // --model_file takes the model's folder
  const { code, out } = await quickstart([
    '--data_path',
    join(ROOT, 'quickstart', 'alpaca_sample.json'),
    '--heldout',
    '20',
    '--load_checkpoint',
    base,
    '--model_file',
    base,
    '--config',
    join(ROOT, 'configs', 'llama2', 'quickstart_lora.yaml'),
    '--epochs',
    '1',
    '--num_samples',
    '64',
    '--prompts',
    '1',
  ]);
  assert.equal(code, 0, out.slice(-3000));
  assert.match(
    out,
    /Removing the previous run's outputs: output\/quickstart, output\/quickstart_train, output\/msrun_log/,
  );
  assert.match(
    out,
    /the first 580 records to fine-tune on \(output\/quickstart\/alpaca_train.json\), the last 20 held out/,
  );
  assert.ok(!out.includes('Pre-train'), 'pre-trained although a checkpoint was given');
  assert.ok(!existsSync(join(cwd, 'output', 'quickstart_train')));
  assert.match(out, /held-out answers exactly right: \d+ of 1 /);
  losses(out);
});

test('bad flags: one line naming the flag, exit code 1', async () => {
  for (const [args, message] of [
    [['--data_path', 'nowhere.json'], 'quickstart: --data_path nowhere.json: no such file'],
    [['--epochs', 'many'], "quickstart: --epochs takes a number, got 'many'"],
    [['--worker_num', '0'], 'quickstart: --worker_num takes a whole number of at least 1, got 0'],
    [['--prompts', '-1'], 'quickstart: --prompts takes a whole number of at least 0, got -1'],
    [
      ['--load_checkpoint', '.', '--pretrain_epochs', '2'],
      'quickstart: --pretrain_path, --train_config and --pretrain_epochs set the pre-training',
    ],
    [['--colour', 'red'], 'quickstart: unknown flag --colour'],
  ] as const) {
    const { code, out } = await quickstart([...args]);
    assert.equal(code, 1, out);
    assert.equal(out.trim().split('\n').length, 1, out);
    assert.ok(out.startsWith(message), `${out} should start with ${message}`);
  }
});

test('the packed package: npm i <tarball> in a fresh project, then npx wasmformers quickstart writes under that folder', () => {
  const work = mkdtempSync(join(tmpdir(), 'wasmformers-package-'));
  try {
    const npm = (args: string[], dir: string) => {
      const r = spawnSync('npm', args, { cwd: dir, encoding: 'utf8', timeout: 180_000 });
      assert.equal(r.status, 0, `npm ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    };
    npm(['pack', '--pack-destination', work], ROOT);
    const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
    assert.ok(tarball, 'npm pack wrote no tarball');
    const project = join(work, 'project');
    mkdirSync(project);
    npm(['init', '-y'], project);
    npm(['install', '--no-audit', '--no-fund', join(work, tarball)], project);
    const r = spawnSync(
      'npx',
      [
        '--no-install',
        'wasmformers',
        'quickstart',
        '--pretrain_epochs',
        '1',
        '--epochs',
        '1',
        '--num_samples',
        '32',
        '--prompts',
        '2',
      ],
      { cwd: project, encoding: 'utf8', timeout: 180_000 },
    );
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out.slice(-3000));
    const installed = join(project, 'node_modules', 'wasmformers');
    assert.ok(
      out.includes('--data_path node_modules/wasmformers/quickstart/alpaca_sample.json'),
      'not the packaged sample',
    );
    assert.ok(
      out.includes('--config node_modules/wasmformers/configs/llama2/quickstart_train.yaml'),
      'not the packaged config',
    );
    assert.match(out, /held-out answers exactly right: \d+ of 2 /);
    for (const file of [
      'output/quickstart/alpaca-fastchat96/index.json',
      'output/quickstart_train/checkpoint/rank_0/meta.json',
      'output/adapter/adapter_config.json',
      'output/report.html',
    ]) {
      assert.ok(existsSync(join(project, file)), `missing ${file}`);
    }
    assert.ok(!existsSync(join(installed, 'output')), 'wrote into the installed package');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});
