/**
 * Loading cores: several loaded at once in a fresh process (as the benchmarks and a program
 * with two models do) all get the build the engine supports. On Node 20 the relaxed build needs
 * a V8 flag that the first load sets; a second load that did not wait for it took the plain
 * SIMD build without a word.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { relaxedSupported } from '../src/runtime/core.ts';

const root = new URL('..', import.meta.url).pathname;

test('cores loaded at once in a fresh process all take the relaxed build where the engine has it', async () => {
  const script = `
    import { loadCore } from './src/runtime/core.ts';
    import { spawnWorkerThread } from './src/runtime/threads.ts';
    const cores = await Promise.all([1, 2, 1].map((threads) => loadCore({ threads, spawnThread: spawnWorkerThread })));
    console.log(JSON.stringify(cores.map((c) => c.kind)));
    for (const c of cores) c.close();`;
  const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, WASMFORMERS_CORE: 'auto' },
  });
  const want = (await relaxedSupported()) ? 'relaxed' : 'simd';
  assert.deepEqual(JSON.parse(out), [want, want, want]);
});
