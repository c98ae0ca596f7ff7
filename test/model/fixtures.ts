/** Small random configurations and batches shared by the model tests. */
import { Rng } from '../../src/runtime/random.ts';
import { validateConfig, type LlamaConfig } from '../../src/model/config.ts';

/** A config with the given sizes (and the usual ids). */
export function tinyConfig(over: Partial<LlamaConfig>): LlamaConfig {
  return validateConfig(
    {
      dim: 32,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 4,
      vocabSize: 67,
      ffnDim: 56,
      normEps: 1e-5,
      ropeTheta: 10000,
      tieEmbeddings: false,
      maxSeqLen: 64,
      bosId: 1,
      eosId: 2,
      padId: 0,
      ...over,
    },
    'test config',
  );
}

/** A batch [B, S+1] with right padding on some rows and some ignored labels. */
export function tinyBatch(seed: number, B: number, S: number, V: number): { ids: Int32Array; labels: Int32Array } {
  const rng = new Rng(seed);
  const ids = new Int32Array(B * (S + 1)),
    labels = new Int32Array(B * (S + 1));
  for (let b = 0; b < B; b++) {
    const len = b === 0 ? S + 1 : Math.max(2, S + 1 - 1 - rng.int(S / 2)); // later rows are padded
    for (let s = 0; s <= S; s++) {
      const i = b * (S + 1) + s;
      ids[i] = s < len ? 3 + rng.int(V - 3) : 0;
      labels[i] = s < len && rng.uniform() > 0.2 ? ids[i] : -100;
    }
  }
  return { ids, labels };
}
