/**
 * The loss monitor line of MindFormers' MFLossMonitor (SPEC.md §8), with its progress bar:
 * `{ Epoch:[  1/  2], step:[    5/ 3250], loss: 1.234, per_step_time: 812ms, lr: 1e-05, ...`
 */

/** One step's numbers. */
export interface StepLog {
  epoch: number;
  epochs: number;
  /** 1-based step within the epoch */
  step: number;
  stepsPerEpoch: number;
  loss: number;
  stepMs: number;
  lr: number;
  globalNorm: number;
  /** model TFLOP/s of this rank */
  tflops: number;
  /** fraction of the whole run done */
  done: number;
  samplesPerSecond: number;
  /** seconds left */
  remaining: number;
}

/** A float as Python prints it: shortest digits, exponent form below 1e-4 (`1e-05`). */
function pyFloat(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'nan' : x > 0 ? 'inf' : '-inf';
  if (x === Math.trunc(x) && Math.abs(x) < 1e16) return x.toFixed(1);
  const a = Math.abs(x);
  if (a < 1e-4 || a >= 1e16) return x.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(x);
}

function hms(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  return `${Math.floor(s / 3600)}:${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

/** The two parts of the monitor line: the numbers, then the progress bar. */
export function formatStep(l: StepLog): string {
  const head =
    `{ Epoch:[${String(l.epoch).padStart(3)}/${String(l.epochs).padStart(3)}], step:[${String(l.step).padStart(5)}/${String(l.stepsPerEpoch).padStart(5)}], ` +
    `loss: ${l.loss.toFixed(3)}, per_step_time: ${Math.round(l.stepMs)}ms, lr: ${pyFloat(l.lr)}, overflow cond: False, loss_scale: 1.0, ` +
    `global_norm: ${pyFloat(Math.fround(l.globalNorm))}, train_throughput_per_npu: ${l.tflops.toFixed(3)}T`;
  const width = 50,
    filled = Math.round(width * Math.min(1, l.done));
  const bar = `|${'█'.repeat(filled)}${' '.repeat(width - filled)}|`;
  return `${head}\n${(100 * l.done).toFixed(1).padStart(5)}% ${bar} ${l.samplesPerSecond.toFixed(5)} samples/s/p  ${hms(l.remaining)} }`;
}
