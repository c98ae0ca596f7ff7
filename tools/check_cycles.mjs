// Fails (exit 1) when the modules under src/ import each other in a cycle. Static imports and
// re-exports count, type-only ones too (they tie the modules' designs together just the same);
// a dynamic `import()` does not (commands/index.ts loads each command lazily by design).
// `node tools/check_cycles.mjs [folder]` prints each cycle as a chain of paths.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(process.argv[2] ?? new URL('../src', import.meta.url).pathname);
const files = readdirSync(root, { recursive: true })
  .filter((f) => f.endsWith('.ts'))
  .map((f) => join(root, f));
const known = new Set(files);
const staticImport =
  /^\s*(?:import|export)\b[^;]*?\bfrom\s*['"](\.{1,2}\/[^'"]+)['"]|^\s*import\s*['"](\.{1,2}\/[^'"]+)['"]/gm;

/** The modules under root that `file` imports statically. */
function importsOf(file) {
  const text = readFileSync(file, 'utf8');
  const out = [];
  for (const m of text.matchAll(staticImport)) {
    const target = resolve(dirname(file), m[1] ?? m[2]);
    if (known.has(target)) out.push(target);
  }
  return out;
}

const edges = new Map(files.map((f) => [f, importsOf(f)]));
// Depth-first search: a module met again while still on the path closes a cycle.
const state = new Map(); // 1: on the path, 2: done
const path = [],
  cycles = [];
function visit(f) {
  state.set(f, 1);
  path.push(f);
  for (const g of edges.get(f)) {
    if (state.get(g) === 1) cycles.push([...path.slice(path.indexOf(g)), g]);
    else if (!state.has(g)) visit(g);
  }
  path.pop();
  state.set(f, 2);
}
for (const f of files) if (!state.has(f)) visit(f);

if (cycles.length) {
  for (const c of cycles) console.error(`import cycle: ${c.map((f) => relative(root, f)).join(' -> ')}`);
  process.exit(1);
}
console.log(`no import cycle among ${files.length} modules under ${relative(process.cwd(), root) || '.'}`);
