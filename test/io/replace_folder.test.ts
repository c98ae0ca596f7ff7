/**
 * replaceFolder: the new folder takes the old one's place, a failed write leaves the old one, and
 * a process stopped between its two renames (the old folder moved aside, the new one not yet in
 * place) has the old folder put back by the next run's sweep.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { replaceFolder, sweepTemporaries } from '../../src/io/atomic.ts';
import { scratchDir } from '../reference/oracles.ts';

const dir = scratchDir();

/** A folder holding one file `a.txt` with `text`. */
async function fill(path: string, text: string): Promise<void> {
  mkdirSync(path);
  writeFileSync(join(path, 'a.txt'), text);
}

/** The pid of a process that has ended. */
function endedPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid!;
}

describe('replaceFolder', () => {
  it('replaces a folder; a write that fails leaves the old one and no temporary', async () => {
    const target = join(dir, 'adapter');
    await replaceFolder(target, (tmp) => fill(tmp, 'one'));
    await replaceFolder(target, (tmp) => fill(tmp, 'two'));
    assert.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'two');
    await assert.rejects(
      replaceFolder(target, async (tmp) => {
        await fill(tmp, 'three');
        throw new Error('disk full');
      }),
      /disk full/,
    );
    assert.equal(readFileSync(join(target, 'a.txt'), 'utf8'), 'two');
    assert.deepEqual(readdirSync(dir), ['adapter']);
  });

  it('a run stopped between the renames: the next sweep puts the old folder back; beside a complete new one it is removed', async () => {
    const sub = join(dir, 'stopped');
    mkdirSync(sub);
    const aside = join(sub, `.adapter.replaced-${endedPid()}`);
    await fill(aside, 'old');
    assert.deepEqual(sweepTemporaries(sub), []);
    assert.equal(readFileSync(join(sub, 'adapter', 'a.txt'), 'utf8'), 'old');
    await fill(aside, 'older');
    assert.deepEqual(sweepTemporaries(sub), [`.adapter.replaced-${aside.split('-').pop()}`]);
    assert.equal(readFileSync(join(sub, 'adapter', 'a.txt'), 'utf8'), 'old');
    assert.ok(!existsSync(aside));
  });
});
