/** The subcommands of `wasmformers`, named as the seed's scripts are, each loaded when used. */
import type { CommandMain } from './run.ts';

/** A subcommand: a line of help and its main. */
export interface Command {
  about: string;
  load(): Promise<{ main: CommandMain }>;
}

/** Every subcommand by name. */
export const commands: Record<string, Command> = {
  info: { about: 'show which compute core runs here and how fast it multiplies', load: () => import('./info.ts') },
  logits: { about: 'print the last-position logits of --input_ids and a --greedy continuation, as JSON', load: () => import('./logits.ts') },
};
