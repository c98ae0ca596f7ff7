/** `node dist/scripts/llama_preprocess.js` or `npx tsx scripts/llama_preprocess.ts`: the `wasmformers llama_preprocess` command. */
import { main } from '../src/commands/llama_preprocess.ts';
import { runCommand } from '../src/commands/run.ts';

await runCommand('llama_preprocess', main, process.argv.slice(2));
