/**
 * Fault injection for the launcher's and the resume tests: WASMFORMERS_FAULT="<rank>:<step>:<kind>"
 * makes that rank fail at that optimizer step, after its backward and before the gradient
 * all-reduce, by throwing (`throw`), ending its thread (`exit`), filling its JavaScript heap
 * (`oom`) or stalling without end (`hang`). With `:save` after the kind it fails halfway through
 * its checkpoint write of that step instead (the temporary half written); a hang there leaves the
 * event loop free, so that signals are handled as in any write.
 */

/** Where a fault fires. */
type FaultPoint = 'step' | 'save';

/** The fault the environment asks of this rank at this step and point, if any. */
function faultHere(rank: number, step: number, point: FaultPoint): string | undefined {
  const spec = process.env.WASMFORMERS_FAULT;
  if (!spec) return undefined;
  const m = /^(\d+):(\d+):(throw|exit|oom|hang)(:save)?$/.exec(spec);
  if (!m) throw new Error(`WASMFORMERS_FAULT=${spec}: expected <rank>:<step>:throw|exit|oom|hang[:save]`);
  if (Number(m[1]) !== rank || Number(m[2]) !== step || (m[4] ? 'save' : 'step') !== point) return undefined;
  return m[3];
}

/** Fails in the way `kind` names. */
function fail(kind: string, step: number): never {
  if (kind === 'throw') throw new Error(`injected fault at step ${step}`);
  if (kind === 'exit') process.exit(3);
  if (kind === 'oom') {
    const hog: number[][] = [];
    for (;;) hog.push(new Array(1e5).fill(step));
  }
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}

/** Fails here (inside a step) if the environment asks this rank to at this step (see the file comment). */
export function injectFault(rank: number, step: number): void {
  const kind = faultHere(rank, step, 'step');
  if (kind) fail(kind, step);
}

/** Fails here (halfway through the checkpoint write of `step`) if the environment asks this rank to with `:save`. */
export async function injectSaveFault(rank: number, step: number): Promise<void> {
  const kind = faultHere(rank, step, 'save');
  if (!kind) return;
  if (kind === 'hang') return new Promise<void>(() => setInterval(() => {}, 1 << 30)); // a timer keeps the thread alive
  fail(kind, step);
}
