/**
 * Choosing the next token from logits, in the order Hugging Face's generate applies its
 * processors: repetition penalty, then temperature, top-k and top-p, then a draw (or the argmax
 * when not sampling).
 */
import { Rng } from '../runtime/random.ts';

/** Decoding settings (MindFormers model_config names in comments). */
export interface SamplingOptions {
  /** do_sample: draw from the distribution instead of taking the argmax */
  doSample: boolean;
  temperature: number;
  /** top_k: keep the k most likely tokens (0 keeps all) */
  topK: number;
  /** top_p: keep the smallest set whose probability reaches p (1 keeps all) */
  topP: number;
  /** repetition_penalty: logits of tokens already present are divided (if > 0) or multiplied by it */
  repetitionPenalty: number;
}

/** The seed's decoding defaults: greedy, top_k 3, top_p 1, no repetition penalty. */
export const SEED_SAMPLING: SamplingOptions = {
  doSample: false,
  temperature: 1,
  topK: 3,
  topP: 1,
  repetitionPenalty: 1,
};

/** Index of the largest value (the first on ties). */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

/** Applies the repetition penalty in place to the logits of tokens in `seen`. */
function applyRepetitionPenalty(logits: Float32Array, seen: Iterable<number>, penalty: number): void {
  if (penalty === 1) return;
  for (const id of new Set(seen)) logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
}

/**
 * The ids of the k largest logits by descending logit, ties by ascending id: what a stable sort
 * of every id then a cut to k gives, in one pass that keeps only the k best (decoding samples
 * every token, and a full sort of a 32000-entry vocabulary per token costs more than the model).
 */
export function topKIds(logits: Float32Array, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < logits.length; i++) {
    const v = logits[i];
    if (best.length === k && !(v > logits[best[k - 1]])) continue;
    let at = best.length;
    while (at > 0 && logits[best[at - 1]] < v) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

/** The next token id from one row of logits (modified in place), given the tokens so far. */
export function sampleToken(logits: Float32Array, seen: Iterable<number>, o: SamplingOptions, rng: Rng): number {
  applyRepetitionPenalty(logits, seen, o.repetitionPenalty);
  if (!o.doSample) return argmax(logits);
  if (!(o.temperature > 0)) throw new Error(`temperature must be positive, got ${o.temperature}`);
  // Candidates by descending logit (ties by id), cut by top-k, then turned into probabilities.
  let order =
    o.topK > 0 && o.topK < logits.length
      ? topKIds(logits, o.topK)
      : Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a]);
  const top = logits[order[0]] / o.temperature;
  let probs = order.map((i) => Math.exp(logits[i] / o.temperature - top));
  let total = probs.reduce((a, b) => a + b, 0);
  if (o.topP < 1) {
    let keep = 0,
      acc = 0;
    while (keep < order.length && (keep === 0 || acc < o.topP)) acc += probs[keep++] / total;
    order = order.slice(0, keep);
    probs = probs.slice(0, keep);
    total = probs.reduce((a, b) => a + b, 0);
  }
  let u = rng.uniform() * total;
  for (let i = 0; i < order.length; i++) {
    u -= probs[i];
    if (u < 0) return order[i];
  }
  return order[order.length - 1];
}
