/**
 * Model configs from a MindFormers YAML and a Hugging Face config.json, against the seed's
 * numbers worked out by hand (SPEC.md §5), and LoRA target matching (SPEC.md §8).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { loadRunConfig } from '../../src/config/load.ts';
import { configFromHF, configFromMindFormers, ffnDimFor } from '../../src/model/config.ts';
import { loraFromPetConfig, loraTargets } from '../../src/model/lora.ts';

const SEED = new URL('../../configs/llama2/lora_llama2_7b.yaml', import.meta.url).pathname;
const modelOf = (overrides: string[] = []) => {
  const mc = loadRunConfig(SEED, overrides, () => undefined).model.model_config;
  return { config: configFromMindFormers(mc, 'model_config'), lora: loraFromPetConfig(mc.pet_config, 'pet_config') };
};

describe('model configs', () => {
  it('reads the seed lora_llama2_7b model block: FFN 11008 from multiple_of 256', () => {
    const { config, lora } = modelOf();
    assert.deepEqual([config.dim, config.nLayers, config.nHeads, config.nKvHeads, config.vocabSize, config.ffnDim, config.maxSeqLen], [4096, 32, 32, 32, 32000, 11008, 4096]);
    assert.equal(config.normEps, 1e-5);
    assert.deepEqual(lora, { rank: 16, alpha: 16, dropout: 0.05, targetModules: '.*wq|.*wk|.*wv|.*wo' });
  });

  it('applies the FFN rule by hand: 8·D/3 rounded up to multiple_of, with ffn_dim_multiplier', () => {
    assert.equal(ffnDimFor(4096, 256), 11008); // int(2·16384/3) = 10922 → 43·256
    assert.equal(ffnDimFor(8192, 4096, 1.3), 28672); // Llama2-70B: int(1.3·21845) = 28398 → 7·4096
    assert.equal(ffnDimFor(288, 32), 768); // int(2·1152/3) = 768
    assert.equal(modelOf(['--model.model_config.n_kv_heads', '8']).config.nKvHeads, 8);
    assert.equal(modelOf(['--model.model_config.intermediate_size', '11000']).config.ffnDim, 11000);
  });

  it('names the key in errors', () => {
    assert.throws(() => modelOf(['--model.model_config.num_heads', '30']), /model_config: hidden size 4096 is not a multiple of the 30 heads/);
    assert.throws(() => modelOf(['--model.model_config.pet_config.pet_type', 'prefix']), /unknown --model\.model_config\.pet_config\.pet_type 'prefix' \(lora\)/);
    const pet = { pet_type: 'prefix', lora_rank: 8, lora_alpha: 16, lora_dropout: 0, target_modules: 'wq' };
    assert.throws(() => loraFromPetConfig(pet, 'x.yaml: pet_config'), /^Error: x\.yaml: pet_config\.pet_type "prefix" is not supported \(only lora\)$/);
  });

  it('reads the shared Hugging Face config.json', () => {
    const path = new URL('../../../shared/models/tiny-random-llama-2/config.json', import.meta.url).pathname;
    const c = configFromHF(JSON.parse(readFileSync(path, 'utf8')), path);
    assert.deepEqual([c.dim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.ffnDim, c.tieEmbeddings, c.ropeTheta], [16, 2, 4, 4, 3000, 64, false, 10000]);
    assert.throws(() => configFromHF({ ...JSON.parse(readFileSync(path, 'utf8')), rope_scaling: { type: 'linear', factor: 2 } }, 'cfg.json'), /cfg\.json: rope_scaling is not supported yet/);
  });

  it('matches LoRA targets from the start of either name, MindFormers or Hugging Face', () => {
    const t = (m: string | string[]) => loraTargets({ rank: 8, alpha: 16, dropout: 0, targetModules: m });
    assert.deepEqual(t('.*wq|.*wk|.*wv|.*wo'), ['wq', 'wk', 'wv', 'wo']);
    assert.deepEqual(t('q_proj|v_proj'), ['wq', 'wv']);
    assert.deepEqual(t('w'), ['wq', 'wk', 'wv', 'wo', 'w1', 'w2', 'w3']); // a prefix match, as re.match
    assert.throws(() => t('proj'), /matches no linear layer/); // re.match anchors at the start: 'proj' is no prefix
    assert.deepEqual(t(['gate_proj', 'w2']), ['w1', 'w2']);
  });
});
