/**
 * The memory layout: the plan's keyed entries (key, shape, element type, bytes, category) and
 * their allocation in a core's arena. What allocates them takes each buffer's offset by its key,
 * so the plan that counts the bytes is the layout the model uses, written once.
 */
import { alignUp, type Arena } from '../runtime/arena.ts';
import { WeightType, weightBytes } from '../runtime/kernels.ts';

/** Where the bytes go. */
export type PlanCategory = 'weights' | 'LoRA' | 'gradients' | 'optimizer state' | 'activations' | 'core';

/** What an entry holds: f32 or i32 values, plain bytes, or a matrix in a weight storage type. */
export type ElementType =
  | 'f32'
  | 'bf16'
  | 'i8'
  | 'q8_0'
  | 'q4_0'
  | 'q4_k'
  | 'q6_k'
  | 'q5_0'
  | 'q5_k'
  | 'q4_1'
  | 'q5_1'
  | 'q3_k'
  | 'i32'
  | 'u8';

/** One allocation of the plan: `bytes` holds `shape` of `type`, padded to 64 bytes. */
export interface PlanEntry {
  key: string;
  shape: number[];
  type: ElementType;
  bytes: number;
  category: PlanCategory;
}

/** The element type a weight storage type stores. */
export function storedType(wt: WeightType): ElementType {
  return WeightType[wt].toLowerCase() as ElementType;
}

/** Bytes per element (fractional for the block types, whose rows are whole blocks). */
export function elementBytes(type: ElementType): number {
  if (type === 'i32') return 4;
  if (type === 'u8') return 1;
  return weightBytes(WeightType[type.toUpperCase() as keyof typeof WeightType]);
}

/** The entry of `key`: its shape of `type` in whole 64-byte lines. */
export function planEntry(key: string, shape: number[], type: ElementType, category: PlanCategory): PlanEntry {
  const n = shape.reduce((a, b) => a * b, 1);
  return { key, shape, type, bytes: alignUp(n * elementBytes(type), 64), category };
}

/** The key of a tensor's gradient, AdamW moments or int8 row scales. */
export function partKey(key: string, part: 'grad' | 'm' | 'v' | 'scales'): string {
  return `${key} ${part}`;
}

/**
 * A plan's entries allocated in an arena, in the plan's order: each entry's offset, taken by
 * what it describes exactly once.
 */
export class Layout {
  readonly entries: readonly PlanEntry[];
  private readonly offsets = new Map<string, number>();
  private readonly taken = new Set<string>();

  /** Allocates every entry; `what` names the layout in errors. */
  constructor(
    arena: Arena,
    entries: PlanEntry[],
    readonly what: string,
  ) {
    const keys = new Set<string>();
    for (const { key } of entries) {
      if (keys.has(key)) throw new Error(`${what}: the memory plan has ${key} twice`);
      keys.add(key);
    }
    this.entries = entries;
    for (const e of entries) this.offsets.set(e.key, arena.alloc(e.bytes));
  }

  /** The offset of `key`, for the one buffer it describes. */
  take(key: string): number {
    const at = this.offsets.get(key);
    if (at === undefined) throw new Error(`${this.what}: the memory plan has no ${key}`);
    if (this.taken.has(key)) throw new Error(`${this.what}: ${key} is taken twice`);
    this.taken.add(key);
    return at;
  }

  /** The offset of `key` (taken or not), undefined when the plan has no such entry. */
  offset(key: string): number | undefined {
    return this.offsets.get(key);
  }

  /** Throws naming the entries nothing took: planned bytes that no buffer uses. */
  finish(): void {
    const left = this.entries.filter((e) => !this.taken.has(e.key)).map((e) => e.key);
    if (left.length > 0) throw new Error(`${this.what}: the memory plan's ${left.join(', ')} went unused`);
  }
}
