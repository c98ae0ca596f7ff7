/**
 * Model configs from a MindFormers YAML and a Hugging Face config.json, against the seed's
 * numbers worked out by hand (SPEC.md §5), and LoRA target matching (SPEC.md §8).
 */
import { join } from 'node:path';
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { loadRunConfig } from '../../src/config/load.ts';
import { configFromHF, configFromMindFormers, configToHF, ffnDimFor, headDim } from '../../src/model/config.ts';
import { loraFromPetConfig, loraTargets } from '../../src/model/lora.ts';
import { HUB_CONFIGS } from './hub_configs.ts';
import { TINY } from '../fixtures.ts';

const SEED = new URL('../../configs/llama2/lora_llama2_7b.yaml', import.meta.url).pathname;
const modelOf = (overrides: string[] = []) => {
  const mc = loadRunConfig(SEED, overrides, () => undefined).model.model_config;
  return { config: configFromMindFormers(mc, 'model_config'), lora: loraFromPetConfig(mc.pet_config, 'pet_config') };
};

describe('model configs', () => {
  it('reads the seed lora_llama2_7b model block: FFN 11008 from multiple_of 256', () => {
    const { config, lora } = modelOf();
    assert.deepEqual(
      [config.dim, config.nLayers, config.nHeads, config.nKvHeads, config.vocabSize, config.ffnDim, config.maxSeqLen],
      [4096, 32, 32, 32, 32000, 11008, 4096],
    );
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
    assert.throws(
      () => modelOf(['--model.model_config.num_heads', '30']),
      /model_config: hidden size 4096 is not a multiple of the 30 heads/,
    );
    assert.throws(
      () => modelOf(['--model.model_config.pet_config.pet_type', 'prefix']),
      /unknown --model\.model_config\.pet_config\.pet_type 'prefix' \(lora\)/,
    );
    const pet = { pet_type: 'prefix', lora_rank: 8, lora_alpha: 16, lora_dropout: 0, target_modules: 'wq' };
    assert.throws(
      () => loraFromPetConfig(pet, 'x.yaml: pet_config'),
      /^Error: x\.yaml: pet_config\.pet_type "prefix" is not supported \(only lora\)$/,
    );
  });

  it('reads the shared Hugging Face config.json', () => {
    const path = join(TINY, 'config.json');
    const c = configFromHF(JSON.parse(readFileSync(path, 'utf8')), path);
    assert.deepEqual(
      [c.dim, c.nLayers, c.nHeads, c.nKvHeads, c.vocabSize, c.ffnDim, c.tieEmbeddings, c.ropeTheta],
      [16, 2, 4, 4, 3000, 64, false, 10000],
    );
    assert.throws(
      () =>
        configFromHF(
          { ...JSON.parse(readFileSync(path, 'utf8')), rope_scaling: { type: 'linear', factor: 2 } },
          'cfg.json',
        ),
      /^Error: cfg\.json: rope_scaling of type "linear" is not supported \(only llama3\)$/,
    );
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

describe('config.json of each family', () => {
  const read = (name: string, over: Record<string, unknown> = {}) =>
    configFromHF({ ...HUB_CONFIGS[name], ...over }, `${name}/config.json`);

  it('Llama 3.2: llama3 rope_scaling, tied embeddings, head_dim equal to hidden/heads', () => {
    const c = read('Llama-3.2-1B');
    assert.deepEqual(c.ropeScaling, { factor: 32, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192 });
    assert.equal(c.tieEmbeddings, true);
    assert.equal(headDim(c), 64);
    assert.equal(c.headSize, undefined);
    assert.equal(c.qkvBias, undefined);
    assert.equal(read('Llama-3.2-1B', { eos_token_id: [128001, 128008, 128009] }).eosId, 128001); // the Instruct model's list
    assert.throws(
      () => read('Llama-3.2-1B', { rope_scaling: { rope_type: 'yarn', factor: 4 } }),
      /^Error: Llama-3\.2-1B\/config\.json: rope_scaling of type "yarn" is not supported \(only llama3\)$/,
    );
    assert.throws(
      () => read('Llama-3.2-1B', { rope_scaling: { rope_type: 'llama3', factor: 32 } }),
      /^Error: Llama-3\.2-1B\/config\.json: rope_scaling: missing key low_freq_factor$/,
    );
  });

  it('Qwen2: bias on q, k and v without an attention_bias key; its sliding window is off', () => {
    const c = read('Qwen2.5-0.5B');
    assert.equal(c.family, 'qwen2');
    assert.equal(c.qkvBias, true);
    assert.equal(c.slidingWindow, undefined);
    assert.equal(read('Qwen2.5-0.5B', { use_sliding_window: true }).slidingWindow, 32768);
    assert.throws(
      () => read('TinyLlama-1.1B', { attention_bias: true }),
      /^Error: TinyLlama-1\.1B\/config\.json: attention_bias \(a bias on q, k, v and o\) is not supported; only Qwen2's q\/k\/v bias is$/,
    );
  });

  it('Qwen3: q/k norm and an explicit head_dim of 128 with 16 heads over a hidden size of 1024', () => {
    const c = read('Qwen3-0.6B');
    assert.equal(c.qkNorm, true);
    assert.equal(headDim(c), 128);
    assert.equal(c.qkvBias, undefined);
  });

  it('Mistral: the sliding window; SmolLM2 and TinyLlama: plain Llama', () => {
    assert.equal(read('Mistral-7B-v0.1').slidingWindow, 4096);
    const smol = read('SmolLM2-135M'),
      tiny = read('TinyLlama-1.1B');
    assert.deepEqual(
      [smol.dim, smol.nHeads, smol.nKvHeads, headDim(smol), smol.tieEmbeddings, smol.ropeTheta],
      [576, 9, 3, 64, true, 100000],
    );
    assert.deepEqual(
      [tiny.dim, tiny.nKvHeads, tiny.ffnDim, tiny.tieEmbeddings, tiny.family],
      [2048, 4, 5632, false, undefined],
    );
    assert.throws(
      () => read('TinyLlama-1.1B', { model_type: 'gemma' }),
      /^Error: TinyLlama-1\.1B\/config\.json: model_type "gemma" is not one of llama, mistral, qwen2, qwen3$/,
    );
  });

  it('the config.json we write reads back to the same config, for every family', () => {
    for (const name of Object.keys(HUB_CONFIGS)) {
      const c = read(name);
      assert.deepEqual(configFromHF(JSON.parse(JSON.stringify(configToHF(c))), 'written'), c, name);
    }
    const windowedQwen = read('Qwen2.5-0.5B', { use_sliding_window: true });
    assert.deepEqual(configFromHF(configToHF(windowedQwen), 'written'), windowedQwen);
  });
});

describe('shipped LoRA configs of the other families', () => {
  const CONFIGS = new URL('../../configs/', import.meta.url).pathname;
  const shipped: Record<string, string> = {
    'llama3/lora_llama3_2_1b.yaml': 'Llama-3.2-1B',
    'qwen2/lora_qwen2_5_0_5b.yaml': 'Qwen2.5-0.5B',
    'qwen3/lora_qwen3_0_6b.yaml': 'Qwen3-0.6B',
    'smollm2/lora_smollm2_135m.yaml': 'SmolLM2-135M',
    'tinyllama/lora_tinyllama_1_1b.yaml': 'TinyLlama-1.1B',
  };
  it('every family folder holds exactly these', () => {
    const found = readdirSync(CONFIGS)
      .filter((d) => d !== 'llama2')
      .flatMap((d) => readdirSync(CONFIGS + d).map((f) => `${d}/${f}`))
      .sort();
    assert.deepEqual(found, Object.keys(shipped).sort());
  });
  for (const [file, hub] of Object.entries(shipped)) {
    it(`${file}: its model_config has the shape of ${hub}'s config.json, with LoRA on q k v o`, () => {
      const mc = loadRunConfig(CONFIGS + file, [], () => undefined).model.model_config;
      const got = configFromMindFormers(mc, file),
        want = configFromHF(HUB_CONFIGS[hub], hub);
      const shape = (c: typeof got) => ({
        dim: c.dim,
        nLayers: c.nLayers,
        nHeads: c.nHeads,
        nKvHeads: c.nKvHeads,
        headDim: headDim(c),
        vocabSize: c.vocabSize,
        ffnDim: c.ffnDim,
        normEps: c.normEps,
        ropeTheta: c.ropeTheta,
        tieEmbeddings: c.tieEmbeddings,
        family: c.family,
        ropeScaling: c.ropeScaling,
        qkvBias: c.qkvBias,
        qkNorm: c.qkNorm,
        slidingWindow: c.slidingWindow,
        bosId: c.bosId,
        eosId: c.eosId,
      });
      assert.deepEqual(shape(got), shape(want));
      assert.deepEqual(loraTargets(loraFromPetConfig(mc.pet_config, file)!), ['wq', 'wk', 'wv', 'wo']);
    });
  }
  it('MindFormers keys name their errors: an unknown extend_method, a scaling_factor block without its keys', () => {
    const file = CONFIGS + 'llama3/lora_llama3_2_1b.yaml';
    const mc = loadRunConfig(file, [], () => undefined).model.model_config;
    assert.throws(
      () => configFromMindFormers({ ...mc, extend_method: 'PI' }, 'mc'),
      /^Error: mc: extend_method "PI" is not supported \(only LLAMA3\)$/,
    );
    assert.throws(
      () => configFromMindFormers({ ...mc, scaling_factor: { factor: 8 } }, 'mc'),
      /^Error: mc\.scaling_factor: missing key low_freq_factor$/,
    );
  });
});
