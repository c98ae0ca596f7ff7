/** `node dist/scripts/logits.js` or `npx tsx scripts/logits.ts`: the `wasmformers logits` command. */
import { main } from '../src/commands/logits.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('logits', main, process.argv.slice(2));
