/**
 * An open GGUF file as a checkpoint: its config from the metadata, its tensors under Hugging
 * Face names, F32/F16/BF16 ones as stored and block-quantized ones (Q8_0, Q4_0, Q4_K, Q6_K)
 * dequantized to F32. The llama architecture's q/k rows, which llama.cpp's converter stores in
 * interleaved RoPE pairs, are put back in Hugging Face's rotate-half order (qwen2 and qwen3 are
 * stored unpermuted). Tensors without a Hugging Face name keep their GGUF names, except
 * rope_freqs.weight (Llama 3's rescaled RoPE), which becomes the config's ropeScaling.
 */
import type { LlamaConfig } from '../../model/config.ts';
import { encodeFloat, type DType } from '../dtypes.ts';
import { permuteRopeRows } from '../names.ts';
import { FileSource, type ByteSource } from '../source.ts';
import { infoOf, type TensorInfo, type TensorStore } from '../store.ts';
import { dequantize } from './blocks.ts';
import { configFromGguf } from './config.ts';
import type { BlockType } from './format.ts';
import { parseHeader, type TensorRecord } from './header.ts';
import { hfName, isRopeProjection } from './names.ts';

/** A GGUF file opened for reading (nothing but the header is read until a tensor is asked for). */
export class GgufFile implements TensorStore {
  readonly where: string;
  readonly tensors: ReadonlyMap<string, TensorInfo>;
  readonly metadata: Readonly<Record<string, string>> = {};
  /** the model the metadata describes */
  readonly config: LlamaConfig;
  /** the tensor records by the names `tensors` uses */
  readonly records: ReadonlyMap<string, TensorRecord>;
  private readonly permuted: boolean;

  private constructor(private readonly src: ByteSource) {
    this.where = src.where;
    const h = parseHeader(src);
    const embed = h.tensors.get('token_embd.weight');
    if (!embed) throw new Error(`${this.where}: no tensor token_embd.weight`);
    const freqs = h.tensors.get('rope_freqs.weight');
    let ropeFreqs: Float32Array | undefined;
    if (freqs) {
      if (freqs.type !== 'F32' || freqs.dims.length !== 1)
        throw new Error(
          `${this.where}: tensor rope_freqs.weight must be F32 of one dimension, not ${freqs.type}[${freqs.dims}]`,
        );
      const raw = new Uint8Array(freqs.end - freqs.begin);
      src.readSync(raw, freqs.begin);
      ropeFreqs = new Float32Array(raw.buffer);
      h.tensors.delete('rope_freqs.weight'); // taken into the config
    }
    this.config = configFromGguf(
      h.metadata,
      this.where,
      embed.dims[1] ?? 0,
      !h.tensors.has('output.weight'),
      ropeFreqs,
    );
    this.permuted = h.metadata.get('general.architecture') === 'llama';
    const records = new Map<string, TensorRecord>(),
      tensors = new Map<string, TensorInfo>();
    for (const t of h.tensors.values()) {
      const name = hfName(t.name) ?? t.name;
      const dtype: DType = t.type === 'F16' || t.type === 'BF16' ? t.type : 'F32';
      records.set(name, t);
      tensors.set(name, { dtype, shape: [...t.dims].reverse() });
    }
    this.records = records;
    this.tensors = tensors;
  }

  /** Opens a GGUF file; errors name it. */
  static open(path: string): GgufFile {
    return GgufFile.from(FileSource.open(path));
  }

  /** Reads a GGUF file from any byte source (closed here if its header is bad). */
  static from(src: ByteSource): GgufFile {
    try {
      return new GgufFile(src);
    } catch (err) {
      src.close();
      throw err;
    }
  }

  /** A tensor's bytes as stored in the file (blocks for quantized types); `name` as `tensors` names it. */
  async readRaw(name: string): Promise<Uint8Array> {
    const t = this.record(name),
      out = new Uint8Array(t.end - t.begin);
    await this.src.read(out, t.begin);
    return out;
  }

  /**
   * A matrix's blocks as stored, when it is stored as `type` (else undefined): what a model
   * holding `type` weights takes as is, q/k rows of the llama architecture put back in order.
   */
  async blocks(name: string, type: BlockType): Promise<Uint8Array | undefined> {
    const t = this.records.get(name);
    if (!t || t.type !== type || t.dims.length !== 2) return undefined;
    const raw = await this.readRaw(name),
      qk = this.permuted ? isRopeProjection(name) : undefined;
    if (!qk) return raw;
    const rows = t.dims[1],
      heads = qk === 'q' ? this.config.nHeads : this.config.nKvHeads;
    return permuteRopeRows(raw, heads, rows, raw.length / rows, 1, 'hf');
  }

  private record(name: string): TensorRecord {
    infoOf(this, name);
    return this.records.get(name)!;
  }

  /** Raw bytes to the bytes `tensors` describes: dequantized, q/k rows reordered. */
  private finish(name: string, raw: Uint8Array): Uint8Array {
    const t = this.record(name),
      info = this.tensors.get(name)!,
      what = `${this.where}: tensor ${t.name}`;
    const n = info.shape.reduce((a, b) => a * b, 1);
    let bytes = t.type === info.dtype ? raw : encodeFloat(dequantize(t.type, raw, n, what), 'F32', what);
    const qk = this.permuted ? isRopeProjection(name) : undefined;
    if (qk) {
      const heads = qk === 'q' ? this.config.nHeads : this.config.nKvHeads,
        [rows, cols] = info.shape;
      if (info.shape.length !== 2 || rows % heads !== 0 || (rows / heads) % 2 !== 0)
        throw new Error(`${what}: shape [${info.shape}] does not hold ${heads} heads`);
      bytes = permuteRopeRows(bytes, heads, rows, cols, info.dtype === 'F32' ? 4 : 2, 'hf');
    }
    return bytes;
  }

  async read(name: string): Promise<Uint8Array> {
    return this.finish(name, await this.readRaw(name));
  }

  readSync(name: string): Uint8Array {
    const t = this.record(name),
      raw = new Uint8Array(t.end - t.begin);
    this.src.readSync(raw, t.begin);
    return this.finish(name, raw);
  }

  close(): void {
    this.src.close();
  }
}
