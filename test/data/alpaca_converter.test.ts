/**
 * `alpaca_converter`: the 5,000 real Alpaca records give byte for byte what Python's json.dump
 * writes for MindFormers' prompts (test/reference/alpaca_converter_ref.py); bad input and
 * outputs that exist give one clear line and exit code 1, and nothing is written.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/commands/alpaca_converter.ts';
import { ALPACA_5000, runPython, scratchDir } from '../reference/oracles.ts';
import { runCli } from '../fixtures.ts';

const dir = scratchDir();

function input(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

describe('alpaca_converter', () => {
  it('writes exactly what the Python reference writes for the 5,000 Alpaca records, creating missing folders', async () => {
    const ours = join(dir, 'new', 'folder', 'conv.json'),
      theirs = join(dir, 'ref.json');
    const result = await runCli(['alpaca_converter', '--data_path', ALPACA_5000, '--output_path', ours]);
    assert.deepEqual([result.code, result.stdout, result.stderr], [0, '', '']);
    runPython('alpaca_converter_ref.py', [ALPACA_5000, theirs]);
    assert.ok(
      readFileSync(ours).equals(readFileSync(theirs)),
      'bytes differ from json.dump(indent=2, ensure_ascii=False)',
    );
    const records = JSON.parse(readFileSync(ours, 'utf8'));
    assert.equal(records.length, 5000);
    assert.equal(records[4999].id, '5000');
  });

  it('uses the no-input prompt for an empty or missing input and keeps non-ASCII text', async () => {
    const inPath = input(
      'small.json',
      JSON.stringify([
        { instruction: 'Say hi', output: '你好 🦙' },
        { instruction: 'Echo', input: '', output: 'x' },
        { instruction: 'Add', input: '1 2', output: '3' },
      ]),
    );
    const out = join(dir, 'small-out.json'),
      ref = join(dir, 'small-ref.json');
    assert.equal(await main(['--data_path', inPath, '--output_path', out]), 0);
    runPython('alpaca_converter_ref.py', [inPath, ref]);
    assert.equal(readFileSync(out, 'utf8'), readFileSync(ref, 'utf8'));
    assert.match(readFileSync(out, 'utf8'), /"你好 🦙"/);
  });

  it('gives one line and exit code 1 for malformed JSON, naming the line and column', async () => {
    const bad = input('bad.json', '[\n  {"instruction": "a", "output": "b"},\n  {"instruction": "c" "output": "d"}\n]');
    const result = await runCli(['alpaca_converter', '--data_path', bad, '--output_path', join(dir, 'never.json')]);
    assert.equal(result.code, 1);
    assert.equal(
      result.stderr,
      `alpaca_converter: ${bad}: invalid JSON at line 3, column 23: unexpected "\\"" where "," or "}" was expected\n`,
    );
    assert.ok(!existsSync(join(dir, 'never.json')));
  });

  it('names the record that lacks instruction or output', async () => {
    const a = input('no-output.json', JSON.stringify([{ instruction: 'a', output: 'b' }, { instruction: 'c' }]));
    await assert.rejects(
      main(['--data_path', a, '--output_path', join(dir, 'o1.json')]),
      new RegExp(`^Error: ${a}: record 2: missing "output"$`),
    );
    const b = input('no-instruction.json', JSON.stringify([{ input: 'x', output: 'b' }]));
    await assert.rejects(
      main(['--data_path', b, '--output_path', join(dir, 'o2.json')]),
      /record 1: missing "instruction"/,
    );
    const c = input('not-array.json', '{"instruction": "a"}');
    await assert.rejects(main(['--data_path', c, '--output_path', join(dir, 'o3.json')]), /expected a JSON array/);
    assert.ok(!existsSync(join(dir, 'o1.json')) && !existsSync(join(dir, 'o2.json')));
  });

  it('refuses an output that exists or is a folder, and leaves no temporary file behind', async () => {
    const inPath = input('ok.json', JSON.stringify([{ instruction: 'a', output: 'b' }]));
    const existing = input('exists.json', 'keep me');
    await assert.rejects(
      main(['--data_path', inPath, '--output_path', existing]),
      /exists\.json already exists \(a file\); choose another --output_path/,
    );
    assert.equal(readFileSync(existing, 'utf8'), 'keep me');
    const folder = join(dir, 'a-folder');
    mkdirSync(folder);
    await assert.rejects(
      main(['--data_path', inPath, '--output_path', folder]),
      /a-folder already exists \(a directory\); choose another --output_path/,
    );
    assert.deepEqual(
      readdirSync(dir).filter((f) => f.includes('.partial-')),
      [],
    );
  });
});
