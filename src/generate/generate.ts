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
  /** choose only ids below this (the tokenizer's vocabulary, where the model has more rows than it) */
  vocabLimit?: number;
  /** called with each new token as it is chosen (for streaming) */
  onToken?: (id: number) => void;
}

/**
 * The new token ids that continue `prompt`, one at a time as each is chosen (the eos or stop id
 * that stops it included). The KV cache lives while the iteration does: finish it, or end it
 * early with `return()` (a `for...of` that breaks does), before the model runs anything else.
 */
export function* generateIds(
  model: LlamaModel,
  prompt: readonly number[],
  options: Partial<GenerateOptions> & { maxNewTokens: number },
): Generator<number, void, undefined> {
  const o = { ...SEED_SAMPLING, eosId: model.config.eosId, seed: 0, ...options };
  if (prompt.length === 0) throw new Error('generate needs a prompt of at least one token');
  if (o.maxNewTokens <= 0) return;
  model.reserve(1, prompt.length); // step buffers first, so the cache can be freed after
  const mark = model.core.arena.mark();
  try {
    const cache = model.newCache(1, prompt.length + o.maxNewTokens);
    const rng = new Rng(o.seed);
    const seen = [...prompt];
    let logits = model.forwardCached(cache, Int32Array.from(prompt), prompt.length);
    for (let n = 1; ; n++) {
      if (o.vocabLimit !== undefined && o.vocabLimit < logits.length) logits.fill(-Infinity, o.vocabLimit);
      const next = sampleToken(logits, seen, o, rng);
      seen.push(next);
      yield next;
      if (next === o.eosId || o.stopIds?.includes(next) || n === o.maxNewTokens) return;
      logits = model.forwardCached(cache, Int32Array.of(next), 1);
    }
  } finally {
    model.core.arena.release(mark);
  }
}

/** The new token ids that continue `prompt` (the eos or stop id that stopped it included). */
export function generate(
  model: LlamaModel,
  prompt: readonly number[],
  options: Partial<GenerateOptions> & { maxNewTokens: number },
): number[] {
  const out: number[] = [];
  for (const id of generateIds(model, prompt, options)) {
    out.push(id);
    options.onToken?.(id);
  }
  return out;
}
