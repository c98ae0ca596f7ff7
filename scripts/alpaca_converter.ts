/** `node dist/scripts/alpaca_converter.js` or `npx tsx scripts/alpaca_converter.ts`: the `wasmformers alpaca_converter` command. */
import { main } from '../src/commands/alpaca_converter.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('alpaca_converter', main, process.argv.slice(2));
