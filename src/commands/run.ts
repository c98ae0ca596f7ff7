/**
 * Runs a command's main the way every entry point does: its exit code becomes the process's,
 * and an error becomes one line on stderr (the message names the file, record or key) and
 * exit code 1. A signal while it writes removes the unfinished output first (signals.ts).
 */
import { exitOnSignalsWhenWriting } from './signals.ts';

/** A command: takes its arguments, returns an exit code. */
export type CommandMain = (argv: string[]) => Promise<number>;

/** Runs main(argv) and sets process.exitCode; errors print one line prefixed with the command name. */
export async function runCommand(name: string, main: CommandMain, argv: string[]): Promise<void> {
  exitOnSignalsWhenWriting();
  try {
    process.exitCode = await main(argv);
  } catch (err) {
    console.error(`${name}: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
