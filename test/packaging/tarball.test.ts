/**
 * The package as a user gets it: `npm pack`, the tarball installed into a fresh project (offline:
 * a lockfile taken from this repository's pins the dependencies to what npm's cache holds), a
 * consumer file type-checked with `tsc --strict` against the shipped declarations alone, and
 * run: it loads the tiny Llama from ../shared (with a small SentencePiece model trained on the
 * spot as its tokenizer), fine-tunes a few LoRA steps on in-memory records, and streams a
 * generation. A consumer file with type errors in it must be reported, naming the mistakes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { scratchDir, trainModels } from '../reference/oracles.ts';
import { ROOT, TINY } from '../fixtures.ts';

const TSC = join(ROOT, 'node_modules/.bin/tsc');

/** package.json and package-lock.json of a project that depends on the tarball and @types/node, every version pinned as this repository's lockfile pins it. */
function consumerProject(dir: string, tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, Record<string, unknown>>;
  };
  const own = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const packages: Record<string, unknown> = {};
  const wanted = [...Object.keys(own.dependencies), '@types/node'],
    taken = new Set<string>();
  while (wanted.length) {
    const name = wanted.pop()!;
    if (taken.has(name)) continue;
    taken.add(name);
    for (const [path, entry] of Object.entries(lock.packages)) {
      if (path !== `node_modules/${name}` && !path.startsWith(`node_modules/${name}/node_modules/`)) continue;
      const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry;
      packages[path] = kept;
      wanted.push(...Object.keys({ ...(entry.dependencies as object), ...(entry.optionalDependencies as object) }));
    }
  }
  const dependencies = {
    wasmformers: `file:${tarball}`,
    '@types/node': lock.packages['node_modules/@types/node'].version,
  };
  packages[''] = { name: 'consumer', dependencies };
  packages['node_modules/wasmformers'] = {
    version: own.version,
    resolved: `file:${tarball}`,
    license: own.license,
    dependencies: own.dependencies,
    bin: own.bin,
    engines: own.engines,
  };
  writeFileSync(
    join(dir, 'package.json'),
    JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2),
  );
  writeFileSync(
    join(dir, 'package-lock.json'),
    JSON.stringify({ name: 'consumer', lockfileVersion: 3, requires: true, packages }, null, 2),
  );
}

const CONSUMER = `import { finetune, Llama, type GeneratedPiece } from 'wasmformers';

const llama = await Llama.fromPretrained(process.argv[2], {
  loraConfig: { rank: 4, alpha: 8, dropout: 0, targetModules: ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] },
});
const records = [{ instruction: 'Name a colour.', output: 'Blue.' }, { instruction: 'Name a fruit.', output: 'A pear.' }];
const adapter = await finetune({ model: llama, dataset: records, config: { epochs: 6, batchSize: 2, learningRate: 5e-3, seqLength: 192 } });
const pieces: GeneratedPiece[] = [];
for await (const piece of llama.generate('Name a colour.', { maxNewTokens: 8 })) pieces.push(piece);
const text: string = await llama.complete('Name a fruit.', { maxNewTokens: 4 });
console.log(JSON.stringify({ losses: adapter.losses, pieces, text }));
`;

/** Three mistakes a typed API catches: a number for a path, a string for a count, a misspelt option. */
const WRONG = `import { Llama } from 'wasmformers';

const llama = await Llama.fromPretrained(42);
await llama.complete('Hi', { maxNewTokens: 'many' });
await Llama.fromPretrained('model', { dtyp: 'bf16' });
`;

test('the packed tarball in a fresh project: tsc --strict against its declarations, then fine-tune and generate', async () => {
  const dir = scratchDir(),
    project = join(dir, 'consumer'),
    model = join(dir, 'tiny');
  mkdirSync(project);
  mkdirSync(model);
  for (const f of ['config.json', 'model.safetensors']) symlinkSync(join(TINY, f), join(model, f));
  copyFileSync(trainModels(dir).bpeBytes, join(model, 'tokenizer.model'));

  const packed = JSON.parse(
    execFileSync('npm', ['pack', '--json', '--pack-destination', dir], {
      cwd: ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  );
  const tarball = join(dir, packed[0].filename);
  const shipped = (packed[0].files as { path: string }[]).map((f) => f.path);
  assert.ok(
    shipped.includes('dist/types/src/index.d.ts') && shipped.includes('dist/src/portable.js'),
    'the declarations and the portable build ship',
  );
  consumerProject(project, tarball);
  execFileSync('npm', ['ci', '--offline', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: project,
    stdio: ['ignore', 'ignore', 'inherit'],
  });

  writeFileSync(join(project, 'consumer.ts'), CONSUMER);
  writeFileSync(join(project, 'wrong.ts'), WRONG);
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        strict: true,
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        outDir: 'out',
        types: ['node'],
      },
      files: ['consumer.ts', 'wrong.ts'],
    }),
  );
  const tsc = spawnSync(TSC, ['-p', '.'], { cwd: project, encoding: 'utf8' });
  const errors = tsc.stdout.split('\n').filter((l) => /error TS\d+/.test(l));
  assert.notEqual(tsc.status, 0, 'tsc reports the wrong file');
  assert.deepEqual(
    errors.filter((l) => !l.startsWith('wrong.ts(')),
    [],
    'the consumer file and the shipped declarations type-check',
  );
  assert.deepEqual(
    errors.map((l) => /^wrong\.ts\((\d+),/.exec(l)?.[1]),
    ['3', '4', '5'],
    tsc.stdout,
  );
  assert.match(tsc.stdout, /wrong\.ts\(5,.*'dtyp' does not exist/);

  const run = spawnSync(process.execPath, [join(project, 'out', 'consumer.js'), model], {
    cwd: project,
    encoding: 'utf8',
  });
  assert.equal(run.status, 0, run.stderr);
  const out = JSON.parse(run.stdout) as { losses: number[]; pieces: { text: string; id: number }[]; text: string };
  assert.equal(out.losses.length, 6);
  assert.ok(out.losses.at(-1)! < out.losses[0], `the loss falls: ${out.losses.join(', ')}`);
  assert.equal(out.pieces.length, 8);
  assert.ok(out.pieces.every((p) => Number.isInteger(p.id) && typeof p.text === 'string'));
});
