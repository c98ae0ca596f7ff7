/** `node dist/scripts/transform_ckpt.js` or `npx tsx scripts/transform_ckpt.ts`: the `wasmformers transform_ckpt` command. */
import { main } from '../src/commands/transform_ckpt.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('transform_ckpt', main, process.argv.slice(2));
