/**
 * LoRA (SPEC.md §8): which linear layers get adapters, and their sizes. A layer is targeted when
 * the `target_modules` regex matches its own attribute name from the start, under either its
 * MindFormers name (wq wk wv wo w1 w2 w3) or its Hugging Face name (q_proj ... down_proj).
 */
import { headDim, type LlamaConfig } from './config.ts';

/** The seven linear layers of a Llama block. */
export type LinearKind = 'wq' | 'wk' | 'wv' | 'wo' | 'w1' | 'w2' | 'w3';

/** Each linear's MindFormers and Hugging Face names, its module, and its [out, in] shape. */
export const LINEARS: readonly {
  kind: LinearKind;
  hf: string;
  hfModule: 'self_attn' | 'mlp';
  mfModule: 'attention' | 'feed_forward';
}[] = [
  { kind: 'wq', hf: 'q_proj', hfModule: 'self_attn', mfModule: 'attention' },
  { kind: 'wk', hf: 'k_proj', hfModule: 'self_attn', mfModule: 'attention' },
  { kind: 'wv', hf: 'v_proj', hfModule: 'self_attn', mfModule: 'attention' },
  { kind: 'wo', hf: 'o_proj', hfModule: 'self_attn', mfModule: 'attention' },
  { kind: 'w1', hf: 'gate_proj', hfModule: 'mlp', mfModule: 'feed_forward' },
  { kind: 'w2', hf: 'down_proj', hfModule: 'mlp', mfModule: 'feed_forward' },
  { kind: 'w3', hf: 'up_proj', hfModule: 'mlp', mfModule: 'feed_forward' },
];

/** [out, in] of a linear layer. */
export function linearShape(c: LlamaConfig, kind: LinearKind): [number, number] {
  const hd = headDim(c);
  switch (kind) {
    case 'wq':
      return [c.nHeads * hd, c.dim];
    case 'wk':
    case 'wv':
      return [c.nKvHeads * hd, c.dim];
    case 'wo':
      return [c.dim, c.nHeads * hd];
    case 'w1':
    case 'w3':
      return [c.ffnDim, c.dim];
    case 'w2':
      return [c.dim, c.ffnDim];
  }
}

/** pet_config of the seed: rank, alpha, dropout and the target regex (or a PEFT-style list of names). */
export interface LoraConfig {
  rank: number;
  alpha: number;
  dropout: number;
  targetModules: string | string[];
}

/** A MindFormers `pet_config` block. */
export interface PetConfig {
  pet_type: string;
  lora_rank: number;
  lora_alpha: number;
  lora_dropout: number;
  target_modules: string | string[];
}

/** The LoRA settings of a pet_config block (none without one); `where` names it in errors. */
export function loraFromPetConfig(pet: PetConfig | undefined, where: string): LoraConfig | undefined {
  if (!pet) return undefined;
  if (pet.pet_type !== 'lora')
    throw new Error(`${where}.pet_type ${JSON.stringify(pet.pet_type)} is not supported (only lora)`);
  return { rank: pet.lora_rank, alpha: pet.lora_alpha, dropout: pet.lora_dropout, targetModules: pet.target_modules };
}

/** The linear kinds a LoRA config targets; a pattern that matches none is an error. */
export function loraTargets(lora: LoraConfig): LinearKind[] {
  if (!(Number.isInteger(lora.rank) && lora.rank > 0))
    throw new Error(`pet_config.lora_rank must be a positive integer, got ${lora.rank}`);
  if (!(lora.dropout >= 0 && lora.dropout < 1))
    throw new Error(`pet_config.lora_dropout must be in [0, 1), got ${lora.dropout}`);
  let matches: (name: string) => boolean;
  if (Array.isArray(lora.targetModules)) {
    const names = new Set(lora.targetModules);
    matches = (name) => names.has(name);
  } else {
    let re: RegExp;
    try {
      re = new RegExp(`^(?:${lora.targetModules})`);
    } catch (err) {
      throw new Error(`pet_config.target_modules: ${(err as Error).message}`);
    }
    matches = (name) => re.test(name);
  }
  const kinds = LINEARS.filter((l) => matches(l.kind) || matches(l.hf)).map((l) => l.kind);
  if (kinds.length === 0)
    throw new Error(
      `pet_config.target_modules ${JSON.stringify(lora.targetModules)} matches no linear layer (wq wk wv wo w1 w2 w3 or q_proj ... down_proj)`,
    );
  return kinds;
}

/** alpha / rank, the factor on B·A. */
export function loraScale(lora: LoraConfig): number {
  return lora.alpha / lora.rank;
}
