/**
 * The programs in examples/ run as a user runs them, against the package by its name (resolved
 * through package.json `exports`, as in a project that installed it), on the tiny Llama in
 * ../shared with a small SentencePiece model trained on the spot (python3-sentencepiece) as its
 * tokenizer: they type-check with tsc --strict against the shipped declarations; finetune.ts's
 * loss falls and its adapter is written; generate_deno.ts under Deno and browser/ in headless
 * Chromium (the page bundled by esbuild for the browser) stream the ids and text that the same
 * calls give in Node on the same core build, and the page's fine-tuning (an adapter loaded back
 * from its bytes) takes the losses and generates the ids that the portable entry gives in Node.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { Llama } from '../src/index.ts';
import * as portable from '../src/portable.ts';
import { scratchDir, trainModels } from './reference/oracles.ts';
import { serveStatic, type StaticServer } from './portability/static_server.ts';
import { ROOT, TINY } from './fixtures.ts';

const BIN = join(ROOT, 'node_modules/.bin');
/** What the example page leaves in window.__result. */
interface PageResult {
  core: string;
  ids: number[];
  text: string;
  losses: number[];
}
const PROMPT = 'Name three colours';

/** What Node's Llama generates for PROMPT on `core` (16 new tokens at most, as the examples ask). */
async function nodeGeneration(model: string, core: 'relaxed' | 'simd'): Promise<{ ids: number[]; text: string }> {
  const llama = await Llama.fromPretrained(model, { core });
  const ids: number[] = [];
  let text = '';
  for await (const piece of llama.generate(PROMPT, { maxNewTokens: 16 })) {
    ids.push(piece.id);
    text += piece.text;
  }
  return { ids, text };
}

describe('examples/', () => {
  const dir = scratchDir(),
    model = join(dir, 'tiny');
  before(() => {
    execFileSync(process.execPath, ['tools/build.mjs', '--if-stale'], { cwd: ROOT, stdio: 'inherit' });
    mkdirSync(model);
    for (const f of ['config.json', 'model.safetensors']) symlinkSync(join(TINY, f), join(model, f));
    copyFileSync(trainModels(dir).bpeBytes, join(model, 'tokenizer.model'));
  });

  it('type-check with tsc --strict against the declarations', () => {
    const r = spawnSync(join(BIN, 'tsc'), ['-p', 'examples/tsconfig.json'], { cwd: ROOT, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stdout + r.stderr);
  });

  it('finetune.ts: the loss falls, the adapter is written, and the tuned model answers', () => {
    const adapter = join(dir, 'adapter');
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'examples/finetune.ts', model, adapter], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const losses = [...r.stdout.matchAll(/^step \d+: loss ([\d.]+)$/gm)].map((m) => Number(m[1]));
    assert.equal(losses.length, 6, r.stdout);
    assert.ok(losses[5] < losses[0], `the loss falls: ${losses}`);
    assert.ok(
      existsSync(join(adapter, 'adapter_model.safetensors')) && existsSync(join(adapter, 'adapter_config.json')),
    );
    assert.equal(JSON.parse(readFileSync(join(adapter, 'adapter_config.json'), 'utf8')).r, 8);
    assert.match(r.stdout, /^answer: .+$/m);
  });

  it('generate_deno.ts under Deno streams what Node generates', async () => {
    const r = spawnSync(join(BIN, 'deno'), ['run', '-A', 'examples/generate_deno.ts', model, PROMPT, 'simd'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const want = await nodeGeneration(model, 'simd');
    assert.equal(r.stdout, `${want.text}\nids: ${want.ids.join(' ')}\n`);
  });

  describe('browser/ in headless Chromium', () => {
    let server: StaticServer, browser: Browser;
    before(async () => {
      const page = join(dir, 'page');
      execFileSync(
        join(BIN, 'esbuild'),
        [
          'examples/browser/main.ts',
          '--bundle',
          '--format=esm',
          '--platform=browser',
          '--external:node:*',
          `--outfile=${join(page, 'main.js')}`,
          '--log-level=warning',
        ],
        { cwd: ROOT, stdio: 'inherit' },
      );
      copyFileSync(join(ROOT, 'examples/browser/index.html'), join(page, 'index.html'));
      server = await serveStatic({ '/model/': { dir: model }, '/': { dir: page } });
      browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    });
    after(async () => {
      await browser?.close();
      await server?.close();
    });

    /** The page's result for `query` (after ?core=simd&prompt=PROMPT). */
    async function pageResult(query = ''): Promise<PageResult> {
      const page = await browser.newPage();
      const logs: string[] = [];
      page.on('pageerror', (e) => logs.push(e.message));
      try {
        await page.goto(`${server.url}/index.html?core=simd&prompt=${encodeURIComponent(PROMPT)}${query}`);
        // The example page's own globals (examples/browser/main.ts), not web/'s.
        type ExampleWindow = { __result?: PageResult; __error?: string };
        await page.waitForFunction(
          () => (window as unknown as ExampleWindow).__result !== undefined || window.__error !== undefined,
          null,
          { timeout: 60_000 },
        );
        const { result, error } = await page.evaluate(() => ({
          result: (window as unknown as ExampleWindow).__result,
          error: window.__error,
        }));
        assert.equal(error, undefined, `${error}\n${logs.join('\n')}`);
        assert.equal(result!.core, 'simd');
        return result!;
      } finally {
        await page.close();
      }
    }

    it('streams the ids and text Node generates on the same core', async () => {
      const result = await pageResult();
      const want = await nodeGeneration(model, 'simd');
      assert.deepEqual(result.ids, want.ids);
      assert.equal(result.text, want.text);
    });

    it('fine-tunes, loads the adapter from its bytes and generates as the portable entry does in Node', async () => {
      const result = await pageResult('&finetune=3');
      // The page's calls, through the portable entry in Node on the same core build.
      const read = (f: string) => new Uint8Array(readFileSync(join(model, f)));
      const files = {
        config: read('config.json'),
        weights: read('model.safetensors'),
        tokenizer: read('tokenizer.model'),
      };
      const base = await portable.Llama.fromPretrained(files, {
        core: 'simd',
        loraConfig: { rank: 4, alpha: 8, dropout: 0, targetModules: ['wq', 'wv'] },
      });
      const adapter = await portable.finetune({
        model: base,
        dataset: [
          { instruction: 'Name three colours', output: 'Red, green and blue.' },
          { instruction: 'Name a fruit', output: 'A pear.' },
        ],
        config: { epochs: 3, batchSize: 2, learningRate: 1e-2, seqLength: 192 },
      });
      const tuned = await portable.Llama.fromPretrained(files, { core: 'simd', adapter: adapter.toFiles() });
      const ids: number[] = [];
      for await (const piece of tuned.generate(PROMPT, { maxNewTokens: 16 })) ids.push(piece.id);
      assert.deepEqual(result.losses, adapter.losses);
      assert.deepEqual(result.ids, ids);
      assert.notDeepEqual(ids, (await nodeGeneration(model, 'simd')).ids, 'the adapter changes what is generated');
    });
  });
});
