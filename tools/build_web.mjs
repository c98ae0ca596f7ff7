// Bundles the browser page (web/) into dist/web/: index.html, main.js (the page) and worker.js
// (the web worker that runs the core). Called by tools/build.mjs with the other bundles. The
// library's only `node:` imports are dynamic ones behind a check for Node's built-ins, left
// unresolved here; a static one would break the page, so the build refuses it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Builds dist/web under the repository root `root`. */
export function buildWeb(root) {
  const outdir = join(root, 'dist', 'web');
  mkdirSync(outdir, { recursive: true });
  execFileSync(
    join(root, 'node_modules', '.bin', 'esbuild'),
    [
      'web/main.ts',
      'web/worker.ts',
      '--bundle',
      '--platform=browser',
      '--format=esm',
      '--target=es2022',
      '--external:node:*',
      `--outdir=${outdir}`,
      '--log-level=warning',
    ],
    { cwd: root, stdio: 'inherit' },
  );
  for (const file of ['main.js', 'worker.js']) {
    const text = readFileSync(join(outdir, file), 'utf8');
    const bad = /^\s*(?:import|export)\b[^;]*?["']node:[^"']+["']/m.exec(text);
    if (bad)
      throw new Error(`dist/web/${file}: a static import of a node: module would break the page: ${bad[0].trim()}`);
  }
  copyFileSync(join(root, 'web', 'index.html'), join(outdir, 'index.html'));
}
