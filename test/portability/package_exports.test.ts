/**
 * The package's entry points as a consumer's bundler sees them (through package.json `exports`):
 * `import 'wasmformers'` bundled by esbuild for the browser resolves to the portable build and
 * reaches no `node:` module by a static import (one would break a page at load); the only ones
 * it meets are the dynamic imports behind the check for Node's built-ins. For the same import on
 * Node the check is not vacuous: it resolves to the Node entry, which has static ones. The
 * portable entry's own sources bundle for the browser the same way, fine-tuning (the trainer,
 * finetune, adapters as bytes) included.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import { ROOT } from '../fixtures.ts';

/** A `node:` import the bundle reached: how it is imported and from which file. */
interface NodeImport {
  path: string;
  kind: string;
  importer: string;
}

/** Bundles `entry` for `platform`; returns the files it took and the node: imports it met. */
async function bundle(
  entry: string,
  platform: 'browser' | 'node',
): Promise<{ inputs: string[]; nodeImports: NodeImport[] }> {
  const nodeImports: NodeImport[] = [];
  const result = await esbuild.build({
    entryPoints: [entry],
    bundle: true,
    platform,
    format: 'esm',
    target: 'es2022',
    write: false,
    metafile: true,
    logLevel: 'silent',
    plugins: [
      {
        name: 'record-node-imports',
        setup(b) {
          b.onResolve({ filter: /^node:/ }, (args) => {
            nodeImports.push({ path: args.path, kind: args.kind, importer: args.importer.slice(ROOT.length) });
            return { path: args.path, external: true };
          });
        },
      },
    ],
  });
  return { inputs: Object.keys(result.metafile.inputs), nodeImports };
}

describe('the package entry points under a bundler', () => {
  let dir: string;
  before(() => {
    execFileSync(process.execPath, ['tools/build.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
    dir = mkdtempSync(join(tmpdir(), 'wf-exports-'));
    mkdirSync(join(dir, 'node_modules'));
    symlinkSync(ROOT, join(dir, 'node_modules', 'wasmformers'), 'dir');
    // A name the portable build lacks fails the bundle.
    writeFileSync(
      join(dir, 'entry.js'),
      "import * as w from 'wasmformers';\nimport { finetune } from 'wasmformers';\nglobalThis.wasmformers = { ...w, finetune };\n",
    );
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('the browser condition takes the portable build, which has no static node: import', async () => {
    const { inputs, nodeImports } = await bundle(join(dir, 'entry.js'), 'browser');
    assert.ok(
      inputs.some((f) => f.endsWith('dist/src/portable.js')),
      `the browser bundle takes dist/src/portable.js (took ${inputs.filter((f) => f.includes('dist/')).join(', ')})`,
    );
    assert.ok(!inputs.some((f) => f.endsWith('dist/src/index.js')), 'the browser bundle does not take the Node entry');
    const stat = nodeImports.filter((n) => n.kind !== 'dynamic-import');
    assert.deepEqual(
      stat,
      [],
      `static node: imports in the browser bundle: ${stat.map((n) => `${n.path} (${n.kind}) from ${n.importer}`).join('; ')}`,
    );
  });

  it('on Node the same import takes the Node entry, which imports node: modules statically', async () => {
    const { inputs, nodeImports } = await bundle(join(dir, 'entry.js'), 'node');
    assert.ok(inputs.some((f) => f.endsWith('dist/src/index.js')));
    assert.ok(
      nodeImports.some((n) => n.kind === 'import-statement'),
      'the check would see a static node: import',
    );
  });

  it('src/portable.ts bundles for the browser with fine-tuning and adapters as bytes, and no static node: import', async () => {
    const { inputs, nodeImports } = await bundle(join(ROOT, 'src', 'portable.ts'), 'browser');
    for (const f of [
      'src/api/finetune.ts',
      'src/train/trainer.ts',
      'src/checkpoint/peft_adapter.ts',
      'src/checkpoint/safetensors_bytes.ts',
    ])
      assert.ok(inputs.includes(f), `the bundle takes ${f}`);
    const stat = nodeImports.filter((n) => n.kind !== 'dynamic-import');
    assert.deepEqual(
      stat,
      [],
      `static node: imports in the bundle of src/portable.ts: ${stat.map((n) => `${n.path} (${n.kind}) from ${n.importer}`).join('; ')}`,
    );
  });
});
