/** Text generation with a KV cache: the prompt in one pass, then one token at a time. */
import { Rng } from '../runtime/random.ts';
import type { LlamaModel } from '../model/llama.ts';
import { sampleToken, SEED_SAMPLING, type SamplingOptions } from './sampling.ts';

/** What to generate. */
export interface GenerateOptions extends SamplingOptions {
  /** new tokens at most */
  maxNewTokens: number;
  /** stop after this id (the model's eos by default; -1 never stops early) */
  eosId?: number;
  /** more ids to stop after (a chat template's end-of-turn token) */
  stopIds?: readonly number[];
  seed?: number;
  /** called with each new token as it is chosen (for streaming) */
  onToken?: (id: number) => void;
}

/** The new token ids that continue `prompt` (the eos or stop id that stopped it included). */
export function generate(model: LlamaModel, prompt: readonly number[], options: Partial<GenerateOptions> & { maxNewTokens: number }): number[] {
  const o = { ...SEED_SAMPLING, eosId: model.config.eosId, seed: 0, ...options };
  if (prompt.length === 0) throw new Error('generate needs a prompt of at least one token');
  model.reserve(1, prompt.length); // step buffers first, so the cache can be freed after
  const mark = model.core.arena.mark();
  try {
    const cache = model.newCache(1, prompt.length + o.maxNewTokens);
    const rng = new Rng(o.seed);
    const seen = [...prompt], out: number[] = [];
    let logits = model.forwardCached(cache, Int32Array.from(prompt), prompt.length);
    while (out.length < o.maxNewTokens) {
      const next = sampleToken(logits, seen, o, rng);
      out.push(next);
      seen.push(next);
      o.onToken?.(next);
      if (next === o.eosId || o.stopIds?.includes(next) || out.length === o.maxNewTokens) break;
      logits = model.forwardCached(cache, Int32Array.of(next), 1);
    }
    return out;
  } finally {
    model.core.arena.release(mark);
  }
}
