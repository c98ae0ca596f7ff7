/** `node dist/scripts/tokenize.js` or `npx tsx scripts/tokenize.ts`: the `wasmformers tokenize` command. */
import { main } from '../src/commands/tokenize.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('tokenize', main, process.argv.slice(2));
