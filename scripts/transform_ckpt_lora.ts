/** `node dist/scripts/transform_ckpt_lora.js` or `npx tsx scripts/transform_ckpt_lora.ts`: the `wasmformers transform_ckpt_lora` command. */
import { main } from '../src/commands/transform_ckpt_lora.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('transform_ckpt_lora', main, process.argv.slice(2));
