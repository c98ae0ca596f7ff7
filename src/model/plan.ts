/**
 * The memory plan: every byte a configuration needs in one core's memory — weights by storage
 * type, LoRA, gradients, optimizer state, activations at a given B, S and recompute setting —
 * computed before anything is allocated, with a clear error when it exceeds what one
 * WebAssembly instance can address (4 GiB).
 */
import { alignUp, MAX_MEMORY_BYTES } from '../runtime/arena.ts';
import { headDim, type LlamaConfig } from './config.ts';
import type { ModelOptions } from './options.ts';
import { linearShape, loraTargets, type LinearKind } from './lora.ts';
import { weightAllocations } from './weights.ts';

/** Every activation buffer for [B, S], in the order LlamaModel allocates them, 64-byte aligned. */
export function activationAllocations(
  c: LlamaConfig,
  o: ModelOptions,
  B: number,
  S: number,
  targets: LinearKind[],
): { what: string; bytes: number }[] {
  const T = B * S,
    D = c.dim,
    hd = headDim(c),
    Hq = c.nHeads * hd,
    Hkv = c.nKvHeads * hd,
    F = c.ffnDim;
  const chunk = Math.min(T, o.logitsChunk ?? 256);
  const rank = o.lora?.rank ?? 0,
    dropout = (o.lora?.dropout ?? 0) > 0;
  const out: { what: string; bytes: number }[] = [];
  const add = (what: string, floats: number) => out.push({ what, bytes: alignUp(floats * 4, 64) });
  const layerSet = (l: number | 'recomputed') => {
    const p = `layer ${l}`;
    add(`${p} xn1`, T * D);
    add(`${p} rstd1`, T);
    add(`${p} q`, T * Hq);
    add(`${p} k`, T * Hkv);
    add(`${p} v`, T * Hkv);
    add(`${p} att`, T * Hq);
    add(`${p} lse`, B * c.nHeads * S);
    add(`${p} xmid`, T * D);
    add(`${p} xn2`, T * D);
    add(`${p} rstd2`, T);
    add(`${p} g`, T * F);
    add(`${p} u`, T * F);
    add(`${p} h`, T * F);
    if (c.qkNorm) {
      add(`${p} q before norm`, T * Hq);
      add(`${p} k before norm`, T * Hkv);
      add(`${p} q rstd`, T * c.nHeads);
      add(`${p} k rstd`, T * c.nKvHeads);
    }
    for (const kind of targets) {
      add(`${p} ${kind} LoRA t`, T * rank);
      if (dropout) add(`${p} ${kind} LoRA dropout`, T * linearShape(c, kind)[1]);
    }
  };
  for (let l = 0; l < c.nLayers; l++) {
    add(`layer ${l} input`, T * D);
    if (!o.recompute) layerSet(l);
  }
  if (o.recompute) layerSet('recomputed');
  add('last layer out', T * D);
  add('final norm out', T * D);
  add('final rstd', T);
  add('rope table', S * hd);
  add('ids', T);
  add('targets', T);
  add('counted targets', T);
  add('logits chunk', chunk * c.vocabSize);
  add('row losses', chunk);
  add('row lse', chunk);
  for (const g of ['dres', 'dtmp', 'dxn']) add(`grad ${g}`, T * D);
  add('grad att', T * Hq);
  add('grad q', T * Hq);
  add('grad k', T * Hkv);
  add('grad v', T * Hkv);
  for (const g of ['dh', 'dg', 'du']) add(`grad ${g}`, T * F);
  const maxIn = Math.max(D, F, Hq);
  add('LoRA dt', T * Math.max(rank, 1));
  add('LoRA scratch', T * maxIn);
  add('norm grad sink', Math.max(D, hd));
  return out;
}

/** Where the bytes go. */
export type PlanCategory = 'weights' | 'LoRA' | 'gradients' | 'optimizer state' | 'activations' | 'core';

/** One allocation of the plan. */
export interface PlanRow {
  what: string;
  bytes: number;
  category: PlanCategory;
}

/** A memory plan: its rows and their total. */
export interface MemoryPlan {
  rows: PlanRow[];
  total: number;
}

function categorize(what: string): PlanCategory {
  if (/ (grad)$/.test(what)) return 'gradients';
  if (/ (m|v)$/.test(what)) return 'optimizer state';
  if (/LoRA [AB]$/.test(what)) return 'LoRA';
  return 'weights';
}

/** The parameters' share of the plan (what the model's constructor allocates). */
export function weightPlan(c: LlamaConfig, o: ModelOptions): PlanRow[] {
  return weightAllocations(c, o).map((r) => ({ ...r, category: categorize(r.what) }));
}

/** The activations' share for a step over [B, S]. */
export function activationPlan(c: LlamaConfig, o: ModelOptions, B: number, S: number): PlanRow[] {
  const targets = o.mode === 'finetune' && o.lora ? loraTargets(o.lora) : [];
  return activationAllocations(c, o, B, S, targets).map((r) => ({ ...r, category: 'activations' as const }));
}

/** The whole plan: the core's own bytes (static data and kernel workspace), parameters, activations. */
export function memoryPlan(c: LlamaConfig, o: ModelOptions, B: number, S: number, coreBytes: number): MemoryPlan {
  const rows: PlanRow[] = [
    { what: 'core static data and workspace', bytes: coreBytes, category: 'core' },
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
export function checkFits(rows: PlanRow[], used: number, hint: string): void {
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
