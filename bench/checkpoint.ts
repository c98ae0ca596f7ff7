/**
 * Checkpoint benchmark (the last part of `npm run bench`; `node --import tsx bench/checkpoint.ts`
 * alone): a 1 GiB safetensors file written here (64 F32 tensors of 16 MiB, each with its CRC-32)
 * is loaded tensor by tensor with every checksum verified, against `fs.promises.readFile` of
 * the same bytes, both from the page cache, alternating, median of five. The file lives in a
 * temporary folder that is removed at exit.
 */
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SafetensorsFile } from '../src/checkpoint/safetensors.ts';
import { readEach } from '../src/checkpoint/store.ts';
import { writeTensors, type OutputTensor } from '../src/checkpoint/write.ts';

const work = mkdtempSync(join(tmpdir(), 'wasmformers-bench-ckpt-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));
const path = join(work, 'model.safetensors');

const TENSOR = 16 << 20,
  COUNT = 64;
const block = randomFillSync(new Uint8Array(TENSOR));
const tensors: OutputTensor[] = Array.from({ length: COUNT }, (_, i) => ({
  name: `model.layers.${i}.weight`,
  info: { dtype: 'F32', shape: [TENSOR / 4 / 1024, 1024] },
  bytes: () => {
    block[0] = i;
    return block;
  },
}));
let t0 = performance.now();
await writeTensors(path, 'safetensors', tensors);
const writeMs = performance.now() - t0;

/** Opens the file and reads every tensor as a model load does (checksums verified); returns the bytes read. */
async function load(): Promise<number> {
  const f = SafetensorsFile.open(path);
  let n = 0;
  for await (const [, bytes] of readEach(f, [...f.tensors.keys()])) n += bytes.length;
  f.close();
  return n;
}

await readFile(path); // into the page cache
const plain: number[] = [],
  ours: number[] = [];
for (let r = 0; r < 5; r++) {
  t0 = performance.now();
  await readFile(path);
  plain.push(performance.now() - t0);
  t0 = performance.now();
  if ((await load()) !== TENSOR * COUNT) throw new Error('short read');
  ours.push(performance.now() - t0);
}
const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
const ratio = median(ours) / median(plain);
console.log(
  `\nCheckpoint load: 1 GiB safetensors file (${COUNT} F32 tensors, CRC-32 each), from the page cache, median of 5`,
);
console.log(`  fs.readFile                          ${median(plain).toFixed(0).padStart(6)} ms`);
console.log(
  `  SafetensorsFile, checksums verified  ${median(ours).toFixed(0).padStart(6)} ms  ${ratio.toFixed(2)}× readFile`,
);
console.log(`  (written with checksums in ${writeMs.toFixed(0)} ms)`);
console.log(`  goal: at most 1.3× readFile: ${ratio <= 1.3 ? 'met' : 'NOT met'}`);
