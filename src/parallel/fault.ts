/**
 * Fault injection for the launcher's tests: WASMFORMERS_FAULT="<rank>:<step>:<kind>" makes that
 * rank fail at that optimizer step, after its backward and before the gradient all-reduce, by
 * throwing (`throw`), ending its thread (`exit`), filling its JavaScript heap (`oom`) or
 * stalling without end (`hang`).
 */

/** Fails here if the environment asks this rank to at this step (see the file comment). */
export function injectFault(rank: number, step: number): void {
  const spec = process.env.WASMFORMERS_FAULT;
  if (!spec) return;
  const m = /^(\d+):(\d+):(throw|exit|oom|hang)$/.exec(spec);
  if (!m) throw new Error(`WASMFORMERS_FAULT=${spec}: expected <rank>:<step>:throw|exit|oom|hang`);
  if (Number(m[1]) !== rank || Number(m[2]) !== step) return;
  if (m[3] === 'throw') throw new Error(`injected fault at step ${step}`);
  if (m[3] === 'exit') process.exit(3);
  if (m[3] === 'oom') {
    const hog: number[][] = [];
    for (;;) hog.push(new Array(1e5).fill(step));
  }
  const never = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(never, 0, 0);
}
