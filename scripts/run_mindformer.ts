/** `node dist/scripts/run_mindformer.js` or `npx tsx scripts/run_mindformer.ts`: the `wasmformers run_mindformer` command. */
import { main } from '../src/commands/run_mindformer.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('run_mindformer', main, process.argv.slice(2));
