/**
 * The memory plan: every byte a configuration needs in one core's memory — weights by storage
 * type, LoRA, gradients, optimizer state, activations at a given B, S and recompute setting —
 * computed before anything is allocated, with a clear error when it exceeds what one
 * WebAssembly instance can address (4 GiB).
 */
import { MAX_MEMORY_BYTES } from '../runtime/arena.ts';
import { headDim, type LlamaConfig } from './config.ts';
import { planEntry, type PlanCategory, type PlanEntry } from './layout.ts';
import type { ModelOptions } from './options.ts';
import { linearShape, loraTargets } from './lora.ts';
import { weightEntries } from './weights.ts';

/**
 * Every activation buffer of a step over [B, S], keyed by its field in the model's step buffers
 * (a layer's under `layer l`, or `layer recomputed` for the one set recompute shares, a LoRA
 * adapter's under its kind), in the order they are allocated.
 */
export function activationPlan(c: LlamaConfig, o: ModelOptions, B: number, S: number): PlanEntry[] {
  const T = B * S,
    D = c.dim,
    hd = headDim(c),
    Hq = c.nHeads * hd,
    Hkv = c.nKvHeads * hd,
    F = c.ffnDim;
  const chunk = Math.min(T, o.logitsChunk ?? 256);
  const targets = o.mode === 'finetune' && o.lora ? loraTargets(o.lora) : [];
  const rank = o.lora?.rank ?? 0,
    dropout = (o.lora?.dropout ?? 0) > 0;
  const out: PlanEntry[] = [];
  const add = (key: string, shape: number[], type: 'f32' | 'i32' = 'f32') =>
    out.push(planEntry(key, shape, type, 'activations'));
  const layerSet = (p: string) => {
    add(`${p} xn1`, [T, D]);
    add(`${p} rstd1`, [T]);
    add(`${p} q`, [T, Hq]);
    add(`${p} k`, [T, Hkv]);
    add(`${p} v`, [T, Hkv]);
    add(`${p} att`, [T, Hq]);
    add(`${p} lse`, [B, c.nHeads, S]);
    add(`${p} xmid`, [T, D]);
    add(`${p} xn2`, [T, D]);
    add(`${p} rstd2`, [T]);
    add(`${p} g`, [T, F]);
    add(`${p} u`, [T, F]);
    add(`${p} h`, [T, F]);
    if (c.qkNorm) {
      add(`${p} qRaw`, [T, Hq]);
      add(`${p} kRaw`, [T, Hkv]);
      add(`${p} rstdQ`, [T, c.nHeads]);
      add(`${p} rstdK`, [T, c.nKvHeads]);
    }
    for (const kind of targets) {
      add(`${p} ${kind} lora t`, [T, rank]);
      if (dropout) add(`${p} ${kind} lora mask`, [T, linearShape(c, kind)[1]]);
    }
  };
  for (let l = 0; l < c.nLayers; l++) {
    add(`layer ${l} xin`, [T, D]);
    if (!o.recompute) layerSet(`layer ${l}`);
  }
  if (o.recompute) layerSet('layer recomputed');
  add('xL', [T, D]);
  add('xf', [T, D]);
  add('rstdf', [T]);
  add('rope', [S, hd]);
  add('ids', [T], 'i32');
  add('targets', [T], 'i32');
  add('validTargets', [T], 'i32');
  add('logits', [chunk, c.vocabSize]);
  add('rowLoss', [chunk]);
  add('rowLse', [chunk]);
  for (const g of ['dres', 'dtmp', 'dxn']) add(g, [T, D]);
  add('datt', [T, Hq]);
  add('dq', [T, Hq]);
  add('dk', [T, Hkv]);
  add('dv', [T, Hkv]);
  for (const g of ['dh', 'dg', 'du']) add(g, [T, F]);
  add('loraDt', [T, Math.max(rank, 1)]);
  add('loraTmp', [T, Math.max(D, F, Hq)]);
  add('normGradSink', [Math.max(D, hd)]);
  return out;
}

/** A memory plan: its entries and their total. */
export interface MemoryPlan {
  rows: PlanEntry[];
  total: number;
}

/** The parameters' share of the plan (what the model's constructor allocates). */
export function weightPlan(c: LlamaConfig, o: ModelOptions): PlanEntry[] {
  return weightEntries(c, o);
}

/** The whole plan: the core's own bytes (static data and kernel workspace), parameters, activations. */
export function memoryPlan(c: LlamaConfig, o: ModelOptions, B: number, S: number, coreBytes: number): MemoryPlan {
  const rows: PlanEntry[] = [
    { key: 'core', shape: [coreBytes], type: 'u8', bytes: coreBytes, category: 'core' },
    ...weightPlan(c, o),
    ...activationPlan(c, o, B, S),
  ];
  return { rows, total: rows.reduce((a, r) => a + r.bytes, 0) };
}

/** Bytes per category, in a fixed order. */
function planTotals(plan: MemoryPlan): [PlanCategory, number][] {
  const order: PlanCategory[] = ['core', 'weights', 'LoRA', 'gradients', 'optimizer state', 'activations'];
  return order
    .map(
      (k) => [k, plan.rows.filter((r) => r.category === k).reduce((a, r) => a + r.bytes, 0)] as [PlanCategory, number],
    )
    .filter(([, b]) => b > 0);
}

/** "1.23 GiB"-style sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

/** The plan as a few lines: one per category and the total against the 4 GiB limit. */
export function formatPlan(plan: MemoryPlan): string {
  const lines = planTotals(plan).map(([k, b]) => `  ${k.padEnd(16)} ${formatBytes(b).padStart(11)}`);
  lines.push(
    `  ${'total'.padEnd(16)} ${formatBytes(plan.total).padStart(11)} of ${formatBytes(MAX_MEMORY_BYTES)} one instance can address`,
  );
  return lines.join('\n');
}

/** Throws, naming the largest categories and what to change, when `bytes` more would pass 4 GiB after `used`. */
export function checkFits(rows: PlanEntry[], used: number, hint: string): void {
  const need = rows.reduce((a, r) => a + r.bytes, 0);
  if (used + need <= MAX_MEMORY_BYTES) return;
  const plan = { rows, total: need };
  const parts = planTotals(plan)
    .map(([k, b]) => `${k} ${formatBytes(b)}`)
    .join(', ');
  throw new Error(
    `memory plan: ${formatBytes(need)} more (${parts}) on top of ${formatBytes(used)} exceeds the ${formatBytes(MAX_MEMORY_BYTES)} one WebAssembly instance can address; ${hint}`,
  );
}
