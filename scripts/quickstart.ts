/** `node dist/scripts/quickstart.js` (what `npm start` runs) or `npx tsx scripts/quickstart.ts`: the `wasmformers quickstart` command. */
import { main } from '../src/commands/quickstart.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('quickstart', main, process.argv.slice(2));
