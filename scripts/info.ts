/** `node dist/scripts/info.js` or `npx tsx scripts/info.ts`: the `wasmformers info` command. */
import { main } from '../src/commands/info.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('info', main, process.argv.slice(2));
