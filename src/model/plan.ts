/**
 * The memory plan: every byte a configuration needs in one core's memory — weights by storage
 * type, LoRA, gradients, optimizer state, activations at a given B, S and recompute setting —
 * computed before anything is allocated, with a clear error when it exceeds what one
 * WebAssembly instance can address (4 GiB).
 */
import { MAX_MEMORY_BYTES } from '../runtime/arena.ts';
import type { LlamaConfig } from './config.ts';
import { activationAllocations, type ModelOptions } from './llama.ts';
import { loraTargets } from './lora.ts';
import { weightAllocations } from './weights.ts';

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
  const rows: PlanRow[] = [{ what: 'core static data and workspace', bytes: coreBytes, category: 'core' }, ...weightPlan(c, o), ...activationPlan(c, o, B, S)];
  return { rows, total: rows.reduce((a, r) => a + r.bytes, 0) };
}

/** Bytes per category, in a fixed order. */
export function planTotals(plan: MemoryPlan): [PlanCategory, number][] {
  const order: PlanCategory[] = ['core', 'weights', 'LoRA', 'gradients', 'optimizer state', 'activations'];
  return order.map((k) => [k, plan.rows.filter((r) => r.category === k).reduce((a, r) => a + r.bytes, 0)] as [PlanCategory, number]).filter(([, b]) => b > 0);
}

/** "1.23 GiB"-style sizes. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${units[i]}`;
}

/** The plan as a few lines: one per category and the total against the 4 GiB limit. */
export function formatPlan(plan: MemoryPlan): string {
  const lines = planTotals(plan).map(([k, b]) => `  ${k.padEnd(16)} ${formatBytes(b).padStart(11)}`);
  lines.push(`  ${'total'.padEnd(16)} ${formatBytes(plan.total).padStart(11)} of ${formatBytes(MAX_MEMORY_BYTES)} one instance can address`);
  return lines.join('\n');
}

/** Throws, naming the largest categories and what to change, when `bytes` more would pass 4 GiB after `used`. */
export function checkFits(rows: PlanRow[], used: number, hint: string): void {
  const need = rows.reduce((a, r) => a + r.bytes, 0);
  if (used + need <= MAX_MEMORY_BYTES) return;
  const plan = { rows, total: need };
  const parts = planTotals(plan).map(([k, b]) => `${k} ${formatBytes(b)}`).join(', ');
  throw new Error(`memory plan: ${formatBytes(need)} more (${parts}) on top of ${formatBytes(used)} exceeds the ${formatBytes(MAX_MEMORY_BYTES)} one WebAssembly instance can address; ${hint}`);
}
