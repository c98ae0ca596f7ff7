import { LlamaModel } from './src/model/llama.ts';
import { loadCore } from './src/runtime/core.ts';
import { WeightType } from './src/runtime/kernels.ts';
import { spawnWorkerThread } from './src/runtime/threads.ts';
import { validateConfig } from './src/model/config.ts';
import { generate } from './src/generate/generate.ts';
const cfg = validateConfig({ dim: 768, nLayers: 12, nHeads: 12, nKvHeads: 12, vocabSize: 32000, ffnDim: 2048, normEps: 1e-5, ropeTheta: 10000, tieEmbeddings: false, maxSeqLen: 256, bosId: 1, eosId: 2, padId: 0 }, 'x');
const wt = WeightType[(process.argv[2] ?? 'F32') as 'F32'];
for (const threads of [1, 2, 1, 2]) {
  const core = await loadCore({ threads, spawnThread: spawnWorkerThread });
  const m = new LlamaModel(core, cfg, { mode: 'finetune', weightType: wt });
  m.weights.initRandom(1, 0.02);
  generate(m, [1], { maxNewTokens: 4, eosId: -1 });
  let t = performance.now();
  generate(m, [1], { maxNewTokens: 32, eosId: -1 });
  const dec = 32000 / (performance.now() - t);
  const prompt = Array.from({ length: 128 }, (_, i) => 1 + i * 37);
  t = performance.now();
  generate(m, prompt, { maxNewTokens: 1, eosId: -1 });
  const pre = 128000 / (performance.now() - t);
  console.log(`threads ${threads}: decode ${dec.toFixed(1)} tok/s, prefill ${pre.toFixed(1)} tok/s`);
  core.close();
}
