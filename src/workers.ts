/**
 * Starting worker threads from a module that may run from source (under tsx) or from the
 * esbuild bundles. A worker entry is a file `<name>.worker.ts` beside the module that starts
 * it; tools/build.mjs bundles each to `dist/workers/<name>.worker.js`, one folder below `dist`
 * like every bundle that can start it (dist/src/cli.js, dist/src/index.js, dist/scripts/*.js).
 */
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts worker `<name>.worker.ts` that sits beside the module whose import.meta.url is `callerUrl`. */
export function startWorker(name: string, callerUrl: string, options: WorkerOptions = {}): Worker {
  if (!callerUrl.endsWith('.ts')) return new Worker(new URL(`../workers/${name}.worker.js`, callerUrl), options);
  // From source: a worker does not inherit tsx's loader, so it registers tsx before importing the entry.
  const entry = new URL(`./${name}.worker.ts`, callerUrl).href;
  const tsx = import.meta.resolve('tsx/esm/api');
  const code = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(code, { ...options, eval: true });
}
