/**
 * A tiny model to serve in tests: a random checkpoint of lora_tiny.yaml's shape (vocabulary 32000,
 * for the bundled Llama 2 tokenizer) and two PEFT adapters with large random factors (so each
 * changes the greedy text), and a `serve` process on 127.0.0.1 started from the source.
 */
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { saveAdapter } from '../../src/checkpoint/peft.ts';
import { loadModel } from '../../src/checkpoint/load.ts';
import { loadCore } from '../../src/runtime/core.ts';
import { WeightType } from '../../src/runtime/kernels.ts';
import { Rng } from '../../src/runtime/random.ts';

import { ROOT, runCli, startCli } from '../fixtures.ts';

export { ROOT };

/** Writes base/ and adapters one/ and two/ under `dir`; returns their paths. */
export async function writeServedModel(dir: string): Promise<{ base: string; one: string; two: string }> {
  const base = join(dir, 'base');
  const init = await runCli(
    [
      'init_checkpoint',
      '--config',
      'configs/llama2/lora_tiny.yaml',
      '--output_dir',
      base,
      '--seed',
      '3',
      '--model.model_config.initializer_range',
      '0.2',
    ],
    { source: true },
  );
  if (init.code !== 0) throw new Error(init.stderr);
  const core = await loadCore();
  const out = { base, one: join(dir, 'one'), two: join(dir, 'two') };
  for (const [name, rank, targets, seed] of [
    ['one', 4, ['q_proj', 'v_proj', 'down_proj'], 5],
    ['two', 2, ['k_proj', 'o_proj', 'gate_proj', 'up_proj'], 6],
  ] as const) {
    const mark = core.arena.mark();
    const model = await loadModel(core, base, {
      mode: 'finetune',
      weightType: WeightType.F32,
      lora: { rank, alpha: 2 * rank, dropout: 0, targetModules: [...targets] },
    });
    model.weights.initLora(seed);
    const rng = new Rng(seed);
    for (const t of model.weights.trainable)
      if (t.name.includes('lora_B')) rng.fillNormal(core.arena.f32(t.ptr, t.n), 0.5);
    await saveAdapter(out[name], model.weights, base);
    core.arena.release(mark);
  }
  return out;
}

/** A running server: its base URL and the process. */
export interface ServerProcess {
  url: string;
  child: ChildProcess;
  /** everything it printed */
  output(): string;
  /** sends a signal and resolves with the exit code */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `serve` with `args` (port 0) under `runtime`: Node runs the source under tsx, Deno and
 * Bun the bundled dist/scripts/serve.js (node tools/build.mjs); resolves once it listens.
 */
export function startServer(
  args: string[],
  runtime: 'node' | 'deno' | 'bun' = 'node',
  env: Record<string, string> = {},
): Promise<ServerProcess> {
  const run = startCli(['--host', '127.0.0.1', '--port', '0', ...args], {
    script: 'serve',
    source: runtime === 'node',
    runtime,
    env,
  });
  const exited = run.done.then((r) => r.code);
  return new Promise((resolve, reject) => {
    const onData = () => {
      const m = /serving on (http:\/\/127\.0\.0\.1:\d+)\/v1/.exec(run.output());
      if (m)
        resolve({
          url: m[1],
          child: run.child,
          output: run.output,
          stop: (signal = 'SIGTERM') => {
            run.child.kill(signal);
            return exited;
          },
        });
    };
    run.child.stdout!.on('data', onData);
    run.child.stderr!.on('data', onData);
    void exited.then((code) => reject(new Error(`serve exited with ${code} before listening:\n${run.output()}`)));
  });
}
