/**
 * Fault injection for the launcher's and the resume tests: WASMFORMERS_FAULT="<rank>:<step>:<kind>"
 * makes that rank fail at that optimizer step, after its backward and before the gradient
 * all-reduce, by throwing (`throw`), ending its thread (`exit`), filling its JavaScript heap
 * (`oom`) or stalling without end (`hang`). With `:save` after the kind it fails halfway through
 * its checkpoint write of that step instead (the temporary half written); a hang there leaves the
 * event loop free, so that signals are handled as in any write. The command reads the variable
 * once and hands the trainer the hooks (TrainerOptions.faults).
 */
import type { Faults } from '../train/faults.ts';

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

/** The faults WASMFORMERS_FAULT asks of `rank` (see the file comment), or none; throws on a malformed value. */
export function faultsFromEnv(rank: number, spec = process.env.WASMFORMERS_FAULT): Faults | undefined {
  if (!spec) return undefined;
  const m = /^(\d+):(\d+):(throw|exit|oom|hang)(:save)?$/.exec(spec);
  if (!m) throw new Error(`WASMFORMERS_FAULT=${spec}: expected <rank>:<step>:throw|exit|oom|hang[:save]`);
  if (Number(m[1]) !== rank) return undefined;
  const at = Number(m[2]),
    kind = m[3],
    inSave = m[4] !== undefined;
  return {
    inStep(step) {
      if (!inSave && step === at) fail(kind, step);
    },
    async inSave(step) {
      if (!inSave || step !== at) return;
      if (kind === 'hang') return new Promise<void>(() => setInterval(() => {}, 1 << 30)); // a timer keeps the thread alive
      fail(kind, step);
    },
  };
}
