/**
 * Fine-tunes LoRA adapters on a few instruction records, saves them as a PEFT folder, loads them
 * back onto the base model and streams an answer (Node; `npx tsx examples/finetune.ts`).
 *
 *   usage: finetune.ts <model folder> <adapter folder to write> [alpaca.json]
 */
import { readFileSync } from 'node:fs';
import { finetune, Llama } from 'wasmformers';

const [modelDir, adapterDir, alpacaPath] = process.argv.slice(2);
if (!modelDir || !adapterDir) {
  console.error('usage: finetune.ts <model folder> <adapter folder to write> [alpaca.json]');
  process.exit(2);
}
const records = alpacaPath
  ? JSON.parse(readFileSync(alpacaPath, 'utf8')).slice(0, 8)
  : [
      { instruction: 'Name a colour.', output: 'Blue.' },
      { instruction: 'Name a fruit.', output: 'A pear.' },
    ];

const llama = await Llama.fromPretrained(modelDir, {
  loraConfig: { rank: 8, alpha: 16, dropout: 0, targetModules: ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3'] },
});
const adapter = await finetune({
  model: llama,
  dataset: records,
  config: { epochs: 6, batchSize: 2, learningRate: 5e-3, seqLength: 192 },
  onStep: ({ step, loss }) => console.log(`step ${step}: loss ${loss.toFixed(4)}`),
});
await adapter.save(adapterDir);
console.log(`adapter saved to ${adapterDir}`);

const tuned = await Llama.fromPretrained(modelDir, { adapter: adapterDir });
process.stdout.write('answer: ');
for await (const { text } of tuned.generate(records[0].instruction, { maxNewTokens: 16 })) process.stdout.write(text);
process.stdout.write('\n');
