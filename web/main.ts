/**
 * The page: starts the worker with the query's settings (`?data=<URL of the files>&core=auto|
 * relaxed|simd`), shows its progress, and leaves the outcome in `window.__result` (or
 * `window.__error`) for whoever drives the browser.
 */
import type { CoreKind } from '../src/portable.ts';
import type { DemoResult } from './demo.ts';
import type { DemoMessage, DemoRequest } from './protocol.ts';

declare global {
  interface Window {
    __result?: DemoResult;
    __error?: string;
  }
}

const params = new URLSearchParams(location.search);
const log = document.getElementById('log')!;
const show = (line: string) => {
  log.textContent += line + '\n';
};

const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
worker.onmessage = (e: MessageEvent<DemoMessage>) => {
  const m = e.data;
  if (m.type === 'progress') show(m.line);
  else if (m.type === 'result') {
    show(`done in ${m.result.ms.toFixed(0)} ms`);
    window.__result = m.result;
  } else {
    show(`error: ${m.message}`);
    window.__error = m.message;
  }
};
worker.onerror = (e) => {
  show(`error: ${e.message}`);
  window.__error = e.message;
};
const request: DemoRequest = {
  data: params.get('data') ?? './data/',
  core: (params.get('core') ?? 'auto') as CoreKind | 'auto',
};
show(`loading from ${request.data} (core ${request.core})`);
worker.postMessage(request);
