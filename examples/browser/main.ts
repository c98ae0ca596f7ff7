/**
 * A page that streams a model's continuation of a prompt, with the package's browser build
 * (`import 'wasmformers'` under the bundler's `browser` condition). Bundle it with
 *   npx esbuild examples/browser/main.ts --bundle --format=esm --platform=browser --external:node:* --outfile=examples/browser/main.js
 * and serve the folder with the model's files under `model/`. `?core=simd` forces the SIMD128
 * core; `?prompt=...` generates at once; `?finetune=N` first fine-tunes LoRA for N epochs on two
 * records and generates through the adapter loaded back from its bytes. The result is left in
 * `window.__result` for the test.
 */
import { finetune, Llama } from 'wasmformers';

declare global {
  interface Window {
    __result?: { core: string; ids: number[]; text: string; losses: number[] };
    __error?: string;
  }
}

const params = new URLSearchParams(location.search);
const out = document.getElementById('out')!;

async function fetchBytes(name: string): Promise<Uint8Array> {
  const res = await fetch(`model/${name}`);
  if (!res.ok) throw new Error(`model/${name}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** The model's tokenizer file: tokenizer.json, else tokenizer.model. */
async function fetchTokenizer(): Promise<Uint8Array> {
  try {
    return await fetchBytes('tokenizer.json');
  } catch {
    return fetchBytes('tokenizer.model');
  }
}

const fail = (err: unknown) => {
  window.__error = err instanceof Error ? err.message : String(err);
  out.textContent = window.__error;
};
const losses: number[] = [];
const llama = (async () => {
  const files = {
    config: await fetchBytes('config.json'),
    weights: await fetchBytes('model.safetensors'),
    tokenizer: await fetchTokenizer(),
  };
  const core = (params.get('core') ?? 'auto') as 'auto' | 'relaxed' | 'simd';
  const epochs = Number(params.get('finetune') ?? 0);
  if (!epochs) return Llama.fromPretrained(files, { core });
  const base = await Llama.fromPretrained(files, {
    core,
    loraConfig: { rank: 4, alpha: 8, dropout: 0, targetModules: ['wq', 'wv'] },
  });
  const records = [
    { instruction: 'Name three colours', output: 'Red, green and blue.' },
    { instruction: 'Name a fruit', output: 'A pear.' },
  ];
  const adapter = await finetune({
    model: base,
    dataset: records,
    config: { epochs, batchSize: 2, learningRate: 1e-2, seqLength: 192 },
    onStep: ({ step, loss }) => {
      losses.push(loss);
      out.textContent += `step ${step}: loss ${loss.toFixed(4)}\n`;
    },
  });
  // The adapter as the bytes of its PEFT files (what a page would store or offer for download), loaded onto the base.
  return Llama.fromPretrained(files, { core, adapter: adapter.toFiles() });
})();
llama.catch(fail);

async function run(prompt: string): Promise<void> {
  const model = await llama;
  out.textContent = prompt;
  const ids: number[] = [];
  for await (const piece of model.generate(prompt, { maxNewTokens: 16 })) {
    ids.push(piece.id);
    out.textContent += piece.text;
  }
  window.__result = { core: model.model.core.kind, ids, text: out.textContent.slice(prompt.length), losses };
}

document.getElementById('form')!.addEventListener('submit', (e) => {
  e.preventDefault();
  run((document.getElementById('prompt') as HTMLInputElement).value).catch(fail);
});
const initial = params.get('prompt');
if (initial !== null) run(initial).catch(fail);
