/**
 * The model-parallel side of a rank (see src/model/sharding.ts for who holds what): sums of
 * partial activations over the ranks inside a step, the sum of the gradients that are partial
 * (the LoRA factors every rank holds whole), the global gradient norm over slices and whole
 * tensors, and rank 0's view of the whole adapter for saving.
 */
import type { PartialSums } from '../model/llama.ts';
import { LINEARS, type LinearKind } from '../model/lora.ts';
import { shardAxis } from '../model/sharding.ts';
import type { LlamaWeights, Trainable } from '../model/weights.ts';
import type { Core } from '../runtime/core.ts';
import { AllReduce, type Collectives } from './collective.ts';

/** A tensor of the whole model: name, shape and values. */
export interface WholeTensor {
  name: string;
  shape: number[];
  values: Float32Array;
}

/** How a trainable tensor lies across the ranks. */
type Placement = 'whole' | 'partial' | 'sliced';

/** A trainable's linear kind and LoRA factor from its Hugging Face name (undefined: norms, embedding, head). */
function linearOf(name: string): { kind: LinearKind; factor?: 'A' | 'B' } | undefined {
  const l = LINEARS.find((x) => name.includes(`.${x.hfModule}.${x.hf}.`));
  if (!l) return undefined;
  const m = /\.lora_([AB])\./.exec(name);
  return { kind: l.kind, factor: m ? (m[1] as 'A' | 'B') : undefined };
}

/** whole: the same on every rank; partial: held whole, its gradient a sum over the ranks; sliced: each rank its slice. */
function placementOf(t: Trainable): Placement {
  const lin = linearOf(t.name);
  if (!lin) return 'whole';
  return shardAxis(lin.kind, lin.factor) === undefined ? 'partial' : 'sliced';
}

/** One model-parallel rank's sums over the others. */
export class ModelParallel implements PartialSums {
  private exchange = 0;
  private capacity = 0;
  private offsets: number[] = [];
  private readonly partialGrads: AllReduce;
  /** every rank's offsets of its trainable tensors' values */
  private readonly values: number[][];

  /** Sets up the sums over the model-parallel group for `trainable`, with room for `floats` activations (a collective: every rank calls it). */
  constructor(
    private readonly collective: Collectives,
    private readonly core: Core,
    private readonly trainable: Trainable[],
    floats: number,
  ) {
    const partial = trainable.filter((t) => placementOf(t) === 'partial');
    const gathered = collective.allGather({ grads: partial.map((t) => t.grad), values: trainable.map((t) => t.ptr) });
    this.partialGrads = new AllReduce(
      collective,
      core,
      gathered.map((g) => g.grads),
      partial.map((t) => t.n),
    );
    this.values = gathered.map((g) => g.values);
    this.reserve(floats);
  }

  /** Room for sums of `floats` floats (a collective). */
  private reserve(floats: number): void {
    this.exchange = this.core.arena.alloc(floats * 4);
    this.capacity = floats;
    this.offsets = this.collective.allGather(this.exchange);
  }

  /** Replaces the activations at ptr by their sum over the ranks (through each rank's exchange buffer). */
  sum(ptr: number, floats: number): void {
    if (floats > this.capacity) this.reserve(floats);
    const arena = this.core.arena,
      mine = this.offsets[this.collective.rank];
    arena.f32(mine, floats).set(arena.f32(ptr, floats));
    new AllReduce(
      this.collective,
      this.core,
      this.offsets.map((o) => [o]),
      [floats],
    ).run();
    arena.f32(ptr, floats).set(arena.f32(mine, floats));
  }

  /** Sums the partial gradients over the ranks (after backward, before the norm). */
  reduceGrads(): void {
    this.partialGrads.run();
  }

  /** The global gradient norm: whole and (summed) partial tensors once, every rank's slices. */
  gradNorm(): number {
    let own = 0,
      sliced = 0;
    for (const t of this.trainable) {
      const s = this.core.kernels.sumSquares(t.grad, t.n);
      if (placementOf(t) === 'sliced') sliced += s;
      else own += s;
    }
    return Math.sqrt(own + this.collective.sum([sliced])[0]);
  }

  /**
   * The whole model's LoRA factors (a collective; rank 0 reads the other ranks' slices from the
   * shared memory and joins them): name, whole shape and values, in the model's order.
   */
  wholeLora(w: LlamaWeights): WholeTensor[] {
    this.collective.barrier(); // every rank has finished its last update
    const arena = this.core.arena,
      ranks = this.collective.ranks;
    return w.trainable.map((t, i) => {
      const lin = linearOf(t.name),
        axis = lin && shardAxis(lin.kind, lin.factor);
      if (axis === undefined) return { name: t.name, shape: t.shape, values: Float32Array.from(arena.f32(t.ptr, t.n)) };
      const [rows, cols] = t.shape,
        parts = this.values.map((v) => arena.f32(v[i], t.n));
      const shape = axis === 0 ? [rows * ranks, cols] : [rows, cols * ranks],
        values = new Float32Array(t.n * ranks);
      parts.forEach((p, r) => {
        if (axis === 0) values.set(p, r * t.n);
        else
          for (let row = 0; row < rows; row++)
            values.set(p.subarray(row * cols, (row + 1) * cols), row * cols * ranks + r * cols);
      });
      return { name: t.name, shape, values };
    });
  }
}
