/**
 * The browser side of bench/wasm_peer.ts (bundled by it with esbuild, never part of the library):
 * llama.cpp's WebAssembly build through @wllama/wllama, on the CPU only, loading a GGUF file from
 * the page's server and timing one completion at a time with the page's clock.
 */
import { LogLevel, Wllama, type RawCompletionParams } from '@wllama/wllama';

/** One completion: wall-clock milliseconds, and the token counts wllama reports for it. */
export interface PageRun {
  ms: number;
  /** prompt tokens llama.cpp computed (not taken from its KV cache) */
  promptComputed: number;
  completionTokens: number;
}

/** What the page exposes to the benchmark (through playwright's page.evaluate). */
export interface WasmPage {
  /** Loads the GGUF at `modelUrl` with `threads` threads; returns the thread count wllama runs with. */
  load(modelUrl: string, wasmUrl: string, threads: number, contextSize: number, batch: number): Promise<number>;
  /** Greedy completion of `maxTokens` tokens, never the `banned` ids, after the prompt text (BOS added), the prompt computed afresh. */
  run(prompt: string, maxTokens: number, banned: number[]): Promise<PageRun>;
}

declare global {
  interface Window {
    wasmPage: WasmPage;
  }
}

let wllama: Wllama | undefined;

window.wasmPage = {
  async load(modelUrl, wasmUrl, threads, contextSize, batch) {
    const response = await fetch(modelUrl);
    if (!response.ok) throw new Error(`${modelUrl}: HTTP ${response.status}`);
    const blob = await response.blob();
    wllama = new Wllama({ default: wasmUrl });
    await wllama.loadModel([blob], {
      log_level: LogLevel.WARN,
      n_threads: threads,
      n_gpu_layers: 0,
      n_ctx: contextSize,
      n_batch: batch,
      n_ubatch: batch,
      n_parallel: 1,
    });
    return wllama.getNumThreads();
  },

  async run(prompt, maxTokens, banned) {
    if (!wllama) throw new Error('wasmPage.run before load');
    // wllama hands the request as JSON to llama.cpp's server code, whose parameters these are:
    // cache_prompt false computes the whole prompt each run rather than reuse the last run's KV
    // cache, and a logit_bias of false bans an id (wllama's typing has neither).
    const request = {
      stream: false as const,
      prompt,
      max_tokens: maxTokens,
      temperature: 0,
      ignore_eos: true,
      logit_bias: Object.fromEntries(banned.map((id) => [id, false])),
      cache_prompt: false,
    };
    const start = performance.now();
    const result = await wllama.createCompletion(request as unknown as RawCompletionParams & { stream: false });
    const ms = performance.now() - start;
    if (!result.timings) throw new Error('wllama returned no timings for a completion');
    return { ms, promptComputed: result.timings.prompt_n, completionTokens: result.usage.completion_tokens };
  },
};
