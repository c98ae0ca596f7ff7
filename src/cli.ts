#!/usr/bin/env node
/**
 * The `wasmformers` command: one subcommand per user-facing script, named as in MindFormers.
 */

/** Subcommands and the modules that run them (each exports main(argv): Promise<number>). */
const commands: Record<string, { about: string; load: () => Promise<{ main(argv: string[]): Promise<number> }> }> = {
  info: { about: 'show which compute core runs here and how fast it multiplies', load: () => import('../scripts/info.ts') },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(20)} ${c.about}`);
  return ['usage: wasmformers <command> [options]', '', 'commands:', ...rows].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h') {
    console.log(usage());
    return name ? 0 : 1;
  }
  const command = commands[name];
  if (!command) {
    console.error(`wasmformers: unknown command '${name}'\n${usage()}`);
    return 2;
  }
  return (await command.load()).main(rest);
}

run(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    console.error(`wasmformers: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  },
);
