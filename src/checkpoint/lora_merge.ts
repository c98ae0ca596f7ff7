/**
 * Merging LoRA into the base (SPEC.md §8): W' = W + scale·B·A, computed in f32 with the core's
 * GEMM and stored back in W's dtype; the LoRA factors are dropped and every other tensor passes
 * through. The scale always comes from the caller (the adapter's config): MindFormers' tool
 * defaults to 1, a known trap.
 */
import type { Core } from '../runtime/core.ts';
import { WeightType } from '../runtime/kernels.ts';
import { decodeF32, encodeFloat, FLOAT_DTYPES } from './dtypes.ts';
import { formatName, parseName, type Layout } from './names.ts';
import { LINEARS } from '../model/lora.ts';
import { infoOf, ViewStore, type DerivedTensor, type TensorStore } from './store.ts';

/**
 * A view of `base` (named in `layout`) with the LoRA factors found in `lora` (same layout;
 * may be `base` itself) merged into their weights. Optimizer state (prefixed names) is left out.
 * A factor that cannot be merged (no weight of `base` under it, as a layer the base does not
 * have, or no partner factor) is an error naming it: it is never dropped.
 */
export function mergeLora(
  core: Core,
  base: TensorStore,
  lora: TensorStore,
  layout: Layout,
  scale: number,
): { store: TensorStore; merged: string[] } {
  if (!Number.isFinite(scale)) throw new Error(`the LoRA scale must be a number, got ${scale}`);
  const derived = new Map<string, DerivedTensor>();
  const merged: string[] = [],
    used = new Set<string>();
  for (const [name, info] of base.tensors) {
    const key = parseName(name, layout);
    if (key?.lora) continue;
    const linear = key && !key.prefix && key.part === 'layer' && LINEARS.some((l) => l.kind === key.kind);
    const a = linear ? formatName({ ...key, lora: 'A' }, layout) : undefined;
    const b = a ? formatName({ ...key!, lora: 'B' }, layout) : undefined;
    if (!a || !b || !lora.tensors.has(a) || !lora.tensors.has(b)) {
      if (!key?.prefix) derived.set(name, { info, parts: [{ store: base, name }], make: ([x]) => x });
      continue;
    }
    const ia = infoOf(lora, a),
      ib = infoOf(lora, b);
    const [rows, cols] = info.shape,
      r = ia.shape[0];
    if (
      !FLOAT_DTYPES.includes(info.dtype) ||
      info.shape.length !== 2 ||
      ib.shape.join() !== `${rows},${r}` ||
      ia.shape.join() !== `${r},${cols}`
    ) {
      throw new Error(
        `${lora.where}: LoRA factors ${a} [${ia.shape}] and ${b} [${ib.shape}] do not fit ${name} ${info.dtype}[${info.shape}]`,
      );
    }
    merged.push(name);
    used.add(a).add(b);
    derived.set(name, {
      info,
      parts: [
        { store: base, name },
        { store: lora, name: a },
        { store: lora, name: b },
      ],
      make: ([w, pa, pb]) => {
        const { arena, kernels } = core,
          mark = arena.mark();
        try {
          const W = arena.alloc(rows * cols * 4),
            A = arena.alloc(r * cols * 4),
            B = arena.alloc(rows * r * 4);
          arena.f32(W, rows * cols).set(decodeF32(w, info.dtype, name));
          arena.f32(A, r * cols).set(decodeF32(pa, ia.dtype, a));
          arena.f32(B, rows * r).set(decodeF32(pb, ib.dtype, b).map((v) => v * scale));
          kernels.matmulDyW(W, B, A, 0, rows, r, cols, WeightType.F32, true); // W[rows,cols] += (scale·B)[rows,r]·A[r,cols]
          return encodeFloat(Float32Array.from(arena.f32(W, rows * cols)), info.dtype, name);
        } finally {
          arena.release(mark);
        }
      },
    });
  }
  for (const name of lora.tensors.keys()) {
    const key = parseName(name, layout);
    if (!key?.lora || key.prefix || used.has(name)) continue;
    const weight = formatName({ ...key, lora: undefined }, layout),
      partner = formatName({ ...key, lora: key.lora === 'A' ? 'B' : 'A' }, layout);
    throw new Error(
      base.tensors.has(weight)
        ? `${lora.where}: LoRA factor ${name} has no ${partner} to merge with`
        : `${lora.where}: LoRA factor ${name} has no weight ${weight} in ${base.where} to merge into`,
    );
  }
  return { store: new ViewStore(base.where, derived, []), merged };
}
