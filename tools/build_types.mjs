// Emits the type declarations of the public entries (src/index.ts, src/portable.ts and what they
// reach) to dist/types/ with tsc (tsconfig.types.json), then points their relative imports at
// the emitted `.js` names (tsc keeps the sources' `.ts`), so a consumer's TypeScript resolves
// them to the `.d.ts` beside. Called by tools/build.mjs with the other bundles.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Builds dist/types under the repository root `root`. */
export function buildTypes(root) {
  const out = join(root, 'dist', 'types');
  rmSync(out, { recursive: true, force: true });
  execFileSync(join(root, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.types.json'], {
    cwd: root,
    stdio: 'inherit',
  });
  for (const f of readdirSync(out, { recursive: true })) {
    if (!f.endsWith('.d.ts')) continue;
    const path = join(out, f),
      text = readFileSync(path, 'utf8');
    const fixed = text.replace(/((?:from|import)\s*\(?\s*['"]\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1.js$2');
    if (fixed !== text) writeFileSync(path, fixed);
  }
}
