/** tools/check_cycles.mjs: passes on src/, and names a cycle (type-only imports included) in a folder that has one. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const tool = new URL('../../tools/check_cycles.mjs', import.meta.url).pathname;
const check = (dir?: string) => spawnSync(process.execPath, [tool, ...(dir ? [dir] : [])], { encoding: 'utf8' });

test('src/ has no import cycle', () => {
  const r = check();
  assert.equal(r.status, 0, r.stderr);
});

test('a cycle through a type-only import is reported as a chain, and a dynamic import is not one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cycles-'));
  try {
    writeFileSync(join(dir, 'a.ts'), "import { b } from './b.ts';\nexport const a = () => import('./c.ts');\n");
    writeFileSync(join(dir, 'b.ts'), "import type {\n  C,\n} from './c.ts';\nexport const b = 1 as unknown as C;\n");
    writeFileSync(join(dir, 'c.ts'), "import { a } from './a.ts';\nexport type C = typeof a;\n");
    const r = check(dir);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /import cycle: a\.ts -> b\.ts -> c\.ts -> a\.ts/);
    writeFileSync(join(dir, 'c.ts'), 'export type C = number;\n');
    assert.equal(check(dir).status, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
