/** `node dist/scripts/msrun_launcher.js` or `npx tsx scripts/msrun_launcher.ts`: the `wasmformers msrun_launcher` command. */
import { main } from '../src/commands/msrun_launcher.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('msrun_launcher', main, process.argv.slice(2));
