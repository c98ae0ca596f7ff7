#!/usr/bin/env node
/** The `wasmformers` command: `wasmformers <command> [options]`. */
import { commands } from './commands/index.ts';
import { runCommand } from './commands/run.ts';

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(20)} ${c.about}`);
  return ['usage: wasmformers <command> [options]', '', 'commands:', ...rows].join('\n');
}

const [name, ...rest] = process.argv.slice(2);
if (!name || name === '--help' || name === '-h') {
  console.log(usage());
  process.exitCode = name ? 0 : 1;
} else if (!Object.hasOwn(commands, name)) {
  console.error(`wasmformers: unknown command '${name}'\n${usage()}`);
  process.exitCode = 2;
} else {
  await runCommand(name, (await commands[name].load()).main, rest);
}
