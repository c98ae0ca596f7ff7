/**
 * `wasmformers quickstart [flags]` (`npm start`): the seed's quick start end to end, on the
 * built-in sample or on a user's own Alpaca data, tokenizer, checkpoint and config
 * (src/quickstart/flow.ts says what it runs and where it writes).
 */
import { runQuickstart } from '../quickstart/flow.ts';
import { parseQuickstartArgs, QUICKSTART_USAGE } from '../quickstart/options.ts';

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(QUICKSTART_USAGE);
    return 0;
  }
  await runQuickstart(parseQuickstartArgs(argv), (line) => console.log(line));
  return 0;
}
