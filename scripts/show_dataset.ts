/** `node dist/scripts/show_dataset.js` or `npx tsx scripts/show_dataset.ts`: the `wasmformers show_dataset` command. */
import { main } from '../src/commands/show_dataset.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('show_dataset', main, process.argv.slice(2));
