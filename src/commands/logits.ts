/**
 * `wasmformers logits --load_checkpoint P --input_ids 1,42,99 [--greedy N] [--weight_dtype f32|bf16|int8|q8_0|q4_0|q5_0|q4_1|q5_1|q4_k|q5_k|q6_k|stored] [--activations int8|f32]`: prints, as JSON,
 * the last position's logits and a greedy continuation of N tokens — the quickest way to
 * compare this implementation with another one.
 */
import { loadCore } from '../runtime/core.ts';
import { weightStorage } from '../model/weight_dtype.ts';
import { parseActivations } from '../model/options.ts';
import { blockFallbackNote } from '../model/weights.ts';
import { loadModel } from '../checkpoint/load.ts';
import { generate } from '../generate/generate.ts';
import { parseFlags } from './flags.ts';

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    load_checkpoint: { kind: 'string', required: true },
    input_ids: { kind: 'string', required: true },
    greedy: { kind: 'number', default: 0 },
    weight_dtype: { kind: 'string', default: 'f32' },
    activations: { kind: 'string', default: 'int8' },
  });
  const ids = String(f.input_ids)
    .split(',')
    .map((s) => s.trim());
  if (ids.some((s) => !/^\d+$/.test(s)))
    throw new Error(`--input_ids takes comma-separated token ids, got '${f.input_ids}'`);
  const storage = weightStorage(String(f.weight_dtype), '--weight_dtype'),
    activations = parseActivations(String(f.activations), '--activations');
  const greedy = Number(f.greedy);
  if (!(Number.isInteger(greedy) && greedy >= 0)) throw new Error(`--greedy takes a count of tokens, got ${f.greedy}`);
  const core = await loadCore();
  const model = await loadModel(core, String(f.load_checkpoint), { mode: 'finetune', ...storage, activations });
  const fallback = blockFallbackNote(model.config, model.weights.options);
  if (fallback) console.error(fallback);
  const prompt = ids.map(Number);
  const cache = model.newCache(1, prompt.length);
  const logits = model.forwardCached(cache, Int32Array.from(prompt), prompt.length);
  const continuation = greedy > 0 ? generate(model, prompt, { maxNewTokens: greedy, eosId: -1 }) : [];
  console.log(JSON.stringify({ input_ids: prompt, logits: Array.from(logits), greedy: continuation }));
  return 0;
}
