/** `node dist/scripts/serve.js`, `npx tsx scripts/serve.ts`, `deno run -A scripts/serve.ts` or `bun scripts/serve.ts`: the `wasmformers serve` command. */
import { main } from '../src/commands/serve.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('serve', main, process.argv.slice(2));
