/**
 * llama.cpp's WebAssembly build as a peer in bench/infer.ts: @wllama/wllama in headless Chromium
 * (Debian's /usr/bin/chromium through playwright-core), on the CPU. A local server gives the page
 * (bench/wasm_page.ts, bundled here with esbuild), wllama's wasm file and the GGUF file, with
 * cross-origin isolation so that wllama's threaded mode has SharedArrayBuffer. The page times
 * each completion with its own clock; prefill and decoding are medians of 3 after one warm-up.
 */
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { loadTokenizer } from '../src/tokenizer/load.ts';
import { serveStatic } from '../test/portability/static_server.ts';
import type { PageRun } from './wasm_page.ts';

const CHROMIUM = '/usr/bin/chromium';
const WASM_FILE = createRequire(import.meta.url).resolve('@wllama/wllama/esm/wasm/wllama.wasm');
const PAGE_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'wasm_page.ts');
const HTML = new TextEncoder().encode(
  '<!doctype html><meta charset="utf-8"><script type="module" src="/page.js"></script>',
);
const RUNS = 3;

/** What to measure: wllama's thread count, the prompt's token ids, and how many tokens to decode. */
export interface WasmSpeedOptions {
  threads: number;
  prompt: number[];
  decode: number;
}

/** Tokens/s: the prompt's prefill (with its one sampled token), and decoding after a one-token prompt. */
export interface WasmSpeed {
  prefill: number;
  decode: number;
}

let pageBundle: Promise<Uint8Array> | undefined;

/** bench/wasm_page.ts with wllama's JavaScript, as one browser module (built once per process). */
function bundlePage(): Promise<Uint8Array> {
  pageBundle ??= build({
    entryPoints: [PAGE_SOURCE],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    logLevel: 'warning',
  }).then((r) => r.outputFiles[0].contents);
  return pageBundle;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

/** Median milliseconds of `run` over RUNS runs after one warm-up. */
async function medianMs(run: () => Promise<number>): Promise<number> {
  await run();
  const ms: number[] = [];
  for (let i = 0; i < RUNS; i++) ms.push(await run());
  return median(ms);
}

/** What the page sends wllama for the GGUF file's vocabulary: the prompt as text, and the ids it must not sample. */
interface PromptText {
  /** the text whose ids (BOS added) are the prompt's: wllama takes a prompt as text only */
  text: string;
  /**
   * The byte tokens <0x80>..<0xFF>: llama.cpp's server code fails on text that is not whole UTF-8
   * characters, which random weights soon decode, so wllama's sampler never picks these.
   */
  nonAscii: number[];
}

/** The prompt's text and the vocabulary's non-ASCII byte tokens; throws when the ids do not come back from their text. */
async function promptText(ggufPath: string, prompt: number[]): Promise<PromptText> {
  const { tokenizer } = await loadTokenizer(ggufPath);
  const text = tokenizer.decode(prompt);
  const back = tokenizer.encode(text, { eos: false });
  if (back.length !== prompt.length || back.some((id, i) => id !== prompt[i]))
    throw new Error(`the prompt's ${prompt.length} ids are not the ids of their text (it gives ${back.length} ids)`);
  const nonAscii = Array.from({ length: 128 }, (_, i) =>
    tokenizer.tokenToId(`<0x${(128 + i).toString(16).toUpperCase()}>`),
  );
  return { text, nonAscii: nonAscii.filter((id) => id >= 0) };
}

/**
 * llama.cpp's WebAssembly build (wllama) on the GGUF file `ggufPath`: prefill tokens/s of
 * `prompt` (token ids from BOS on, handed to wllama as their text, computed afresh each run;
 * llama.cpp must compute as many tokens) and decode tokens/s of `decode` greedy tokens after BOS
 * alone (the non-ASCII byte tokens banned, see PromptText). Throws one line (naming the file and
 * the page's errors) when wllama cannot load or run the file or does not run the asked thread count.
 */
export async function wllamaSpeed(ggufPath: string, { threads, prompt, decode }: WasmSpeedOptions): Promise<WasmSpeed> {
  const { text, nonAscii } = await promptText(ggufPath, prompt);
  const server = await serveStatic(
    {
      '/index.html': { bytes: HTML },
      '/favicon.ico': { bytes: new Uint8Array() },
      '/page.js': { bytes: await bundlePage() },
      '/wasm/': { dir: dirname(WASM_FILE) },
      '/model/': { dir: dirname(ggufPath) },
    },
    { isolated: true },
  );
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  const pageErrors: string[] = [];
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(e.message));
    page.on('console', (m) => m.type() === 'error' && pageErrors.push(m.text()));
    await page.goto(`${server.url}/index.html`);
    await page.waitForFunction(() => window.wasmPage !== undefined);
    const model = `${server.url}/model/${encodeURIComponent(basename(ggufPath))}`;
    const wasm = `${server.url}/wasm/${basename(WASM_FILE)}`;
    const settings = [model, wasm, threads, prompt.length + decode, prompt.length] as const;
    const running = await page.evaluate(([m, w, t, c, b]) => window.wasmPage.load(m, w, t, c, b), settings);
    if (running !== threads) throw new Error(`wllama runs ${running} thread(s), not ${threads}`);

    /** Milliseconds of one completion, checked to have computed all `ids` tokens of `input` and made every token. */
    const timed = async (input: string, ids: number, tokens: number) => {
      const r: PageRun = await page.evaluate(([p, n, b]) => window.wasmPage.run(p, n, b), [
        input,
        tokens,
        nonAscii,
      ] as const);
      if (r.promptComputed !== ids || r.completionTokens !== tokens)
        throw new Error(
          `wllama computed ${r.promptComputed} of ${ids} prompt tokens and made ${r.completionTokens} of ${tokens}`,
        );
      return r.ms;
    };
    const prefillMs = await medianMs(() => timed(text, prompt.length, 1));
    const decodeMs = await medianMs(() => timed('', 1, decode));
    return { prefill: (prompt.length / prefillMs) * 1000, decode: (decode / decodeMs) * 1000 };
  } catch (e) {
    // One line: the page's own error lines (what llama.cpp said) before the exception that ended the call.
    const said = [...new Set(pageErrors.map((m) => m.split('\n')[0]))].join(' | ');
    const why = `${said ? `${said}; ` : ''}${(e as Error).message.split('\n')[0]}`;
    throw new Error(`wllama on ${basename(ggufPath)}, ${threads} thread(s): ${why}`);
  } finally {
    await browser.close();
    await server.close();
  }
}
