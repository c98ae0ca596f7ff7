/**
 * `wasmformers alpaca_converter --data_path alpaca_data.json --output_path conversations.json`:
 * Stanford Alpaca data to the conversation JSON that `llama_preprocess --dataset_type qa` reads,
 * byte for byte what MindFormers' script writes (a JSON array with 2-space indent, non-ASCII
 * kept as is). The output must not exist yet; its folders are created.
 */
import { alpacaToConversations } from '../data/alpaca.ts';
import { prepareNewOutput, writeFileAtomically } from '../io/atomic.ts';
import { readJsonFile } from '../data/json_file.ts';
import { parseFlags } from './flags.ts';

/** Converts --data_path into --output_path; prints nothing on success, as the seed does. */
export async function main(argv: string[]): Promise<number> {
  const flags = parseFlags(argv, {
    data_path: { kind: 'string', default: 'alpaca-data.json' },
    output_path: { kind: 'string', default: 'alpaca-data-conversation.json' },
  });
  const dataPath = String(flags.data_path),
    outputPath = String(flags.output_path);
  prepareNewOutput(outputPath, '--output_path');
  const records = alpacaToConversations(await readJsonFile(dataPath), dataPath);
  await writeFileAtomically(outputPath, JSON.stringify(records, null, 2));
  return 0;
}
