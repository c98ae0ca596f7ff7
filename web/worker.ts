/**
 * The page's web worker: fetches the tokenizer, the model (config.json, model.safetensors) and
 * the Alpaca records from the URL the page names, runs the demo (demo.ts) and posts its
 * progress and result back.
 */
import { DEMO_SETTINGS, runDemo } from './demo.ts';
import type { DemoMessage, DemoRequest } from './protocol.ts';

const post = (m: DemoMessage) => self.postMessage(m);

/** The body of `url`; an HTTP error names the URL and status. */
async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return res;
}

const bytes = async (url: string) => new Uint8Array(await (await fetchOk(url)).arrayBuffer());

self.onmessage = async (e: MessageEvent<DemoRequest>) => {
  const { data, core } = e.data;
  try {
    const [tokenizer, config, weights, records] = await Promise.all([
      bytes(`${data}tokenizer.model`),
      fetchOk(`${data}config.json`).then((r) => r.json()),
      bytes(`${data}model.safetensors`),
      fetchOk(`${data}alpaca.json`).then((r) => r.json()),
    ]);
    const result = await runDemo({ tokenizer, config, weights, records, core, ...DEMO_SETTINGS }, (line) =>
      post({ type: 'progress', line }),
    );
    post({ type: 'result', result });
  } catch (err) {
    post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  }
};
