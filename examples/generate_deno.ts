/**
 * Streams a continuation of a prompt under Deno (`deno run -A examples/generate_deno.ts`), with
 * the same package and calls as under Node.
 *
 *   usage: generate_deno.ts <model folder> <prompt> [core: auto | relaxed | simd]
 */
import { Llama } from 'wasmformers';

const [modelDir, prompt, core = 'auto'] = Deno.args;
if (!modelDir || prompt === undefined) {
  console.error('usage: generate_deno.ts <model folder> <prompt> [core]');
  Deno.exit(2);
}
const llama = await Llama.fromPretrained(modelDir, { core: core as 'auto' | 'relaxed' | 'simd' });
const encoder = new TextEncoder();
const ids: number[] = [];
for await (const piece of llama.generate(prompt, { maxNewTokens: 16 })) {
  ids.push(piece.id);
  await Deno.stdout.write(encoder.encode(piece.text));
}
console.log(`\nids: ${ids.join(' ')}`);
