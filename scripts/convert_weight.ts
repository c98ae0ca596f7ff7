/** `node dist/scripts/convert_weight.js` or `npx tsx scripts/convert_weight.ts`: the `wasmformers convert_weight` command. */
import { main } from '../src/commands/convert_weight.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('convert_weight', main, process.argv.slice(2));
