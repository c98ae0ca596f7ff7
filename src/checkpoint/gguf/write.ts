/**
 * A checkpoint (tensors under Hugging Face names, its config, its tokenizer) as a GGUF file that
 * llama.cpp runs: tensors renamed (gguf/names.ts), the llama architecture's q/k rows put in
 * llama.cpp's interleaved RoPE order, matrices stored as the chosen type (F32, F16, BF16, Q8_0,
 * Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K, or Q4_K_M and Q5_K_M: llama.cpp's mixes of Q4_K or Q5_K with
 * Q6_K, see mixedType; as llama.cpp's quantizer does, a matrix whose rows are not whole
 * super-blocks of 256 is stored as Q5_0 instead of Q4_K, Q5_1 instead of Q5_K and Q8_0 instead
 * of Q6_K, and one whose rows are not whole blocks of 32 as F16), vectors (norms, biases) as F32, Llama 3's rescaled RoPE as
 * the rope_freqs.weight factors llama.cpp reads. Written under a temporary name and renamed.
 */
import { dirname } from 'node:path';
import { makeFolders, writeAtomically } from '../../io/atomic.ts';
import type { TokenizerFiles } from '../../tokenizer/files.ts';
import { headDim, type LlamaConfig } from '../../model/config.ts';
import { checkBlockScales } from '../../model/block_scales.ts';
import { baseTensorList } from '../../model/weights.ts';
import { decodeF32, encodeFloat } from '../dtypes.ts';
import { permuteRopeRows } from '../names.ts';
import type { TensorStore } from '../store.ts';
import { QUANTIZERS } from './blocks.ts';
import { configToGguf, ggufArchitecture, llama3Factors } from './config.ts';
import { GGML_TYPES, type BlockType, type GgmlType, type TypedValue } from './format.ts';
import { ggufName, isRopeProjection } from './names.ts';
import { tokenizerToGguf } from './tokenizer.ts';
import { writeGguf, type GgufTensor } from './writer.ts';

/** The types matrices can be written as (Q4_K_M and Q5_K_M: mixes, see mixedType). */
export const GGUF_OUTPUT_TYPES = [
  'F32',
  'F16',
  'BF16',
  'Q8_0',
  'Q4_0',
  'Q5_0',
  'Q4_1',
  'Q5_1',
  'Q4_K',
  'Q5_K',
  'Q6_K',
  'Q4_K_M',
  'Q5_K_M',
] as const;
/** A type matrices can be written as. */
export type GgufOutputType = (typeof GGUF_OUTPUT_TYPES)[number];

/** llama.cpp's general.file_type of each (its llama_ftype: all Q4_K or Q5_K are its MOSTLY_Q4_K_S and MOSTLY_Q5_K_S). */
const FILE_TYPES: Record<GgufOutputType, number> = {
  F32: 0,
  F16: 1,
  Q4_0: 2,
  Q8_0: 7,
  Q5_0: 8,
  Q4_1: 3,
  Q5_1: 9,
  Q4_K: 14,
  Q4_K_M: 15,
  Q5_K: 16,
  Q5_K_M: 17,
  Q6_K: 18,
  BF16: 32,
};

/**
 * f32 values as bytes of `type`. Refuses, naming the tensor, values that are not finite, F16 values
 * beyond its range and blocks whose f16 scales overflow: llama.cpp would run such a file and
 * compute with infinities and NaNs.
 */
function encode(values: Float32Array, type: GgmlType, what: string): Uint8Array {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i])) throw new Error(`${what}: value ${i} is ${values[i]}`);
  if (type === 'F32' || type === 'F16' || type === 'BF16') {
    const bytes = encodeFloat(values, type, what);
    if (type === 'F16') {
      const halves = new Uint16Array(bytes.buffer, bytes.byteOffset, values.length),
        i = halves.findIndex((h) => (h & 0x7c00) === 0x7c00);
      if (i >= 0) throw new Error(`${what}: value ${i} (${values[i]}) is beyond F16's range (±65504)`);
    }
    return bytes;
  }
  const quantize = QUANTIZERS[type as BlockType];
  if (!quantize) throw new Error(`${what}: cannot write ${type}`);
  const blocks = quantize(values);
  try {
    checkBlockScales(blocks, type as BlockType);
  } catch (err) {
    throw new Error(`${what}: ${(err as Error).message}`);
  }
  return blocks;
}

/**
 * Throws, naming the tensor, its shape and the shape `config` gives it, unless `store` holds
 * exactly the tensors of a model of `config` (a wrong config.json would give a file whose metadata
 * disagrees with its tensors).
 */
function checkTensorsOfConfig(store: TensorStore, config: LlamaConfig): void {
  const expected = new Map(baseTensorList(config).map((t) => [t.name, t.shape]));
  for (const [name, { shape }] of store.tensors) {
    const want = expected.get(name);
    if (!want)
      throw new Error(
        `${store.where}: tensor ${name} of shape [${shape}] is not in a model of the config (${config.nLayers} layers${config.tieEmbeddings ? ', tied embeddings' : ''})`,
      );
    if (want.join() !== shape.join())
      throw new Error(`${store.where}: tensor ${name} has shape [${shape}], the config gives [${want}]`);
  }
  for (const [name, shape] of expected)
    if (!store.tensors.has(name))
      throw new Error(`${store.where}: tensor ${name} of shape [${shape}], which the config gives, is missing`);
}

/** The type a matrix with rows of `cols` values is written as when `type` is asked for (see the file comment). */
function matrixType(type: GgmlType, cols: number): GgmlType {
  if (GGML_TYPES[type].block === 256 && cols % 256 !== 0)
    return matrixType(type === 'Q4_K' ? 'Q5_0' : type === 'Q5_K' ? 'Q5_1' : 'Q8_0', cols);
  return cols % GGML_TYPES[type].block !== 0 ? 'F16' : type;
}

/** llama.cpp's choice of the layers whose v and down projections get more bits: the first and last eighth, and every third between. */
function moreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

/**
 * The type llama.cpp's Q4_K_M or Q5_K_M gives the matrix `hf` of a model of `config` (its rule
 * for models other than Falcon and 70B ones): Q6_K for the head (the embedding when they are
 * tied) and for the v and down projections of the layers moreBits picks, Q4_K or Q5_K for the rest.
 */
function mixedType(hf: string, config: LlamaConfig, mix: 'Q4_K_M' | 'Q5_K_M'): GgmlType {
  if (hf === 'lm_head.weight' || (config.tieEmbeddings && hf === 'model.embed_tokens.weight')) return 'Q6_K';
  const m = /^model\.layers\.(\d+)\.(?:self_attn\.v_proj|mlp\.down_proj)\.weight$/.exec(hf);
  return m && moreBits(Number(m[1]), config.nLayers) ? 'Q6_K' : mix === 'Q4_K_M' ? 'Q4_K' : 'Q5_K';
}

/** What to write besides the tensors. */
export interface GgufCheckpointOptions {
  /** the model's name in general.name */
  name?: string;
  /** called after each tensor is written */
  onTensor?: (name: string) => void;
}

/**
 * Writes `store` (Hugging Face names: exactly the tensors of a model of `config`, each in its
 * shape, checked before anything is written) with `config` and the tokenizer `tokenizer` (its
 * source named by `tokenizerSource`) to a new GGUF file at `path`.
 */
export async function writeGgufCheckpoint(
  path: string,
  store: TensorStore,
  config: LlamaConfig,
  tokenizer: TokenizerFiles,
  tokenizerSource: string,
  type: GgufOutputType,
  { name = 'wasmformers', onTensor }: GgufCheckpointOptions = {},
): Promise<void> {
  const arch = ggufArchitecture(config, store.where);
  const metadata: [string, TypedValue][] = [
    ['general.name', { type: 'string', value: name }],
    [
      'general.file_type',
      {
        type: 'u32',
        value: FILE_TYPES[type],
      },
    ],
    ...configToGguf(config, store.where),
    ...tokenizerToGguf(tokenizer, tokenizerSource, config.vocabSize),
  ];
  const tokens = metadata.find(([k]) => k === 'tokenizer.ggml.tokens')![1].value as string[];
  if (tokens.length !== config.vocabSize)
    throw new Error(
      `${tokenizerSource}: the tokenizer has ${tokens.length} tokens, the model ${store.where} a vocabulary of ${config.vocabSize}; llama.cpp needs them equal`,
    );
  const tensors: GgufTensor[] = [...store.tensors].map(([hf, info]) => {
    const gguf = ggufName(hf),
      what = `${store.where}: tensor ${hf}`;
    if (!gguf)
      throw new Error(`${what} has no GGUF name (only Llama-family parameters are written; merge LoRA factors first)`);
    const dims = [...info.shape].reverse();
    const t: GgmlType =
      info.shape.length < 2
        ? 'F32'
        : matrixType(type === 'Q4_K_M' || type === 'Q5_K_M' ? mixedType(hf, config, type) : type, dims[0]);
    const qk = arch === 'llama' ? isRopeProjection(hf) : undefined;
    return {
      name: gguf,
      type: t,
      dims,
      bytes: async () => {
        let values = decodeF32(await store.read(hf), info.dtype, what);
        if (qk) {
          const heads = qk === 'q' ? config.nHeads : config.nKvHeads,
            [rows, cols] = info.shape;
          const b = permuteRopeRows(
            new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
            heads,
            rows,
            cols,
            4,
            'meta',
          );
          values = new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4);
        }
        return encode(values, t, what);
      },
    };
  });
  checkTensorsOfConfig(store, config);
  if (config.ropeScaling) {
    const half = headDim(config) / 2,
      factors = Float32Array.from(llama3Factors(config.ropeScaling, config.ropeTheta, half));
    tensors.push({ name: 'rope_freqs.weight', type: 'F32', dims: [half], bytes: () => new Uint8Array(factors.buffer) });
  }
  makeFolders(dirname(path));
  await writeAtomically(path, (tmp) => writeGguf(tmp, metadata, tensors, (t) => onTensor?.(t.name)));
}
