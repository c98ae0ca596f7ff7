/** `node dist/scripts/init_checkpoint.js` or `npx tsx scripts/init_checkpoint.ts`: the `wasmformers init_checkpoint` command. */
import { main } from '../src/commands/init_checkpoint.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('init_checkpoint', main, process.argv.slice(2));
