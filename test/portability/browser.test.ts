/**
 * The page in web/ (bundled to dist/web) in headless Chromium (Debian's /usr/bin/chromium,
 * driven by playwright-core): it fetches a tokenizer, a model and Alpaca records from a local
 * server, runs a few LoRA steps in a web worker and generates. Its losses agree with the same
 * computation (web/demo.ts) in Node on the same core build to 1e-5, and its generated ids are
 * the same, with the engine's own choice of core and with the SIMD128 core forced.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { randomTensors } from '../../src/checkpoint/random_init.ts';
import { writeTensors } from '../../src/checkpoint/write.ts';
import { configFromHF } from '../../src/model/config.ts';
import { bundledLlama2Model } from '../../src/tokenizer/load.ts';
import { DEMO_SETTINGS, runDemo, type DemoInput, type DemoResult } from '../../web/demo.ts';
import { serveStatic, type StaticServer } from './static_server.ts';
import { ALPACA, ROOT } from '../fixtures.ts';

const CHROMIUM = '/usr/bin/chromium';

/** A small Llama with Llama 2's vocabulary (so the real tokenizer's ids fit), grouped-query attention. */
const HF_CONFIG = {
  model_type: 'llama',
  hidden_size: 32,
  intermediate_size: 64,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  num_hidden_layers: 2,
  vocab_size: 32000,
  max_position_embeddings: 128,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  bos_token_id: 1,
  eos_token_id: 2,
};

describe('the browser page (headless Chromium)', () => {
  let dir: string, server: StaticServer, browser: Browser;
  let input: Omit<DemoInput, 'core'>;

  before(async () => {
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium package (.ci/run does)`);
    execFileSync(process.execPath, ['tools/build.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
    dir = mkdtempSync(join(tmpdir(), 'wf-browser-'));
    const model = join(dir, 'model');
    const config = configFromHF(HF_CONFIG, 'config');
    await writeTensors(model, 'hf', randomTensors(config, 7, 0.02, 'BF16'), { config });
    const records = JSON.parse(readFileSync(ALPACA, 'utf8')).slice(0, DEMO_SETTINGS.batch);
    input = {
      tokenizer: await bundledLlama2Model(),
      config: JSON.parse(readFileSync(join(model, 'config.json'), 'utf8')),
      weights: new Uint8Array(readFileSync(join(model, 'model.safetensors'))),
      records,
      ...DEMO_SETTINGS,
    };
    server = await serveStatic({
      '/data/tokenizer.model': { bytes: input.tokenizer },
      '/data/alpaca.json': { bytes: new TextEncoder().encode(JSON.stringify(records)) },
      '/data/': { dir: model },
      '/': { dir: join(ROOT, 'dist', 'web') },
    });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  });

  after(async () => {
    await browser?.close();
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Opens the page with `?core=`, waits for its result, and returns it with the page's log. */
  async function runPage(core: string): Promise<DemoResult> {
    const page = await browser.newPage();
    const console: string[] = [];
    page.on('console', (m) => console.push(m.text()));
    page.on('pageerror', (e) => console.push(`page error: ${e.message}`));
    try {
      await page.goto(`${server.url}/index.html?data=/data/&core=${core}`);
      await page.waitForFunction(() => window.__result !== undefined || window.__error !== undefined, null, {
        timeout: 60_000,
      });
      const { result, error, log } = await page.evaluate(() => ({
        result: window.__result,
        error: window.__error,
        log: document.getElementById('log')!.textContent,
      }));
      assert.equal(error, undefined, `the page failed: ${error}\n${log}\n${console.join('\n')}`);
      return result!;
    } finally {
      await page.close();
    }
  }

  /** The page's result against runDemo in Node on the core build the page ran. */
  async function compare(page: DemoResult): Promise<void> {
    const node = await runDemo({ ...input, core: page.core });
    assert.equal(page.losses.length, DEMO_SETTINGS.steps);
    page.losses.forEach((l, i) =>
      assert.ok(
        Math.abs(l - node.losses[i]) <= 1e-5 * Math.max(1, Math.abs(node.losses[i])),
        `step ${i + 1}: browser loss ${l}, Node ${node.losses[i]}`,
      ),
    );
    assert.ok(
      page.losses[page.losses.length - 1] < page.losses[0],
      `the loss does not fall on the batch trained on: ${page.losses}`,
    );
    assert.deepEqual(page.promptIds, node.promptIds);
    assert.deepEqual(page.generatedIds, node.generatedIds);
    assert.equal(page.text, node.text);
    assert.equal(page.generatedIds.length, DEMO_SETTINGS.maxNewTokens);
  }

  it('runs the engine’s own choice of core (relaxed SIMD in Chromium) and agrees with Node', async () => {
    const page = await runPage('auto');
    assert.equal(page.core, 'relaxed');
    await compare(page);
  });

  it('runs the SIMD128 core and agrees with Node', async () => {
    const page = await runPage('simd');
    assert.equal(page.core, 'simd');
    await compare(page);
  });
});
