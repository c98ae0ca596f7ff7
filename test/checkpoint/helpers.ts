/** Shared pieces of the checkpoint tests: the real checkpoint, scratch folders, byte-exact store comparison, the .ckpt oracle. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TensorStore } from '../../src/checkpoint/store.ts';

/** The real Hugging Face checkpoint beside the project (BF16, hidden 16, 2 layers, vocab 3000). */
export { TINY } from '../fixtures.ts';
const ORACLE = new URL('../reference/ckpt_oracle.py', import.meta.url).pathname;

/** A fresh scratch folder, removed when the process exits. */
export function scratch(): string {
  const dir = mkdtempSync(join(tmpdir(), 'wasmformers-ckpt-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Asserts two stores hold the same tensors: names (optionally mapped), dtypes, shapes and bytes. */
export async function assertSameTensors(
  actual: TensorStore,
  expected: TensorStore,
  name: (n: string) => string = (n) => n,
): Promise<void> {
  assert.deepEqual([...actual.tensors.keys()].sort(), [...expected.tensors.keys()].map(name).sort(), 'tensor names');
  for (const [n, info] of expected.tensors) {
    assert.deepEqual(actual.tensors.get(name(n)), info, `dtype and shape of ${n}`);
    assert.ok(Buffer.from(await actual.read(name(n))).equals(Buffer.from(await expected.read(n))), `bytes of ${n}`);
  }
}

/** Runs a command's main in this process with its console output swallowed. */
export async function quietly(
  main: (argv: string[]) => Promise<number>,
  argv: string[],
): Promise<{ code: number; out: string }> {
  const log = console.log,
    lines: string[] = [];
  console.log = (...a: unknown[]) => {
    lines.push(a.join(' '));
  };
  try {
    return { code: await main(argv), out: lines.join('\n') };
  } finally {
    console.log = log;
  }
}

/** One parameter as the protobuf oracle parsed it. */
export interface OracleParam {
  tag: string;
  dims: number[];
  type: string;
  pieces: number;
  crc_ok: boolean;
  bytes: number;
  sha256: string;
}

/** Parses a .ckpt with python3-protobuf and checkpoint.proto (test/reference/ckpt_oracle.py). */
export function oracleParse(path: string): OracleParam[] {
  return JSON.parse(execFileSync('/usr/bin/python3', [ORACLE, 'parse', path], { encoding: 'utf8' }));
}

/** Writes a .ckpt with python3-protobuf from a spec of parameters. */
export function oracleWrite(specPath: string, out: string): void {
  execFileSync('/usr/bin/python3', [ORACLE, 'write', specPath, out]);
}
