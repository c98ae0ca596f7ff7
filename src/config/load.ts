/**
 * The run configuration of run_mindformer: the defaults (the seed's lora_llama2_7b.yaml), the
 * YAML file merged over them, then the named flags of SPEC.md §6, then nested `--a.b.c value`
 * overrides. Every step is checked; a problem is one line naming the file or flag and the key.
 */
import { readFileSync } from 'node:fs';
import { parse, parseDocument } from 'yaml';
import { defaultRunConfig } from './defaults.ts';
import { parseRunArgs, type Override } from './flags.ts';
import { applyLayer, ConfigError, deepMerge, isMapping } from './merge.ts';
import type { RunConfig } from './types.ts';

/**
 * Loads `path` (or the `--config` among `overrides`; neither means the defaults alone) and applies
 * the command-line `overrides` (run_mindformer's arguments). Flag values are read as YAML scalars
 * (True, 1e-5, null...), or as text where the key takes text. `notice` gets a line for each
 * MindFormers flag that has no effect here (default: stderr).
 */
export function loadRunConfig(
  path: string | undefined,
  overrides: string[],
  notice: (line: string) => void = (l) => console.error(l),
): RunConfig {
  const defaults = defaultRunConfig();
  const args = parseRunArgs(overrides, Object.keys(defaults), notice);
  if (path !== undefined && args.config !== undefined && args.config !== path) {
    throw new Error(`two configs given: '${path}' and --config '${args.config}'`);
  }
  const file = path ?? args.config;
  const config = defaultRunConfig();
  if (file !== undefined) applyLayer(config, readYamlFile(file), defaults, { file });
  for (const o of [...args.named, ...args.nested]) applyOverride(config, defaults, o);
  return config;
}

/** Reads a YAML config file into a mapping (empty file: no keys); errors name the file. */
export function readYamlFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${path}: no such config file`);
    if (code === 'EISDIR') throw new Error(`${path}: is a folder, not a YAML config file`);
    throw new Error(`${path}: cannot read (${code ?? (err as Error).message})`);
  }
  const doc = parseDocument(text, { merge: true, logLevel: 'silent' });
  const error = doc.errors[0];
  if (error) {
    const at = error.linePos ? ` at line ${error.linePos[0].line}, column ${error.linePos[0].col}` : '';
    const reason = error.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '');
    throw new Error(`${path}: invalid YAML${at}: ${reason}`);
  }
  const value: unknown = doc.toJS({ maxAliasCount: -1 });
  if (value === null || value === undefined) return {};
  if (!isMapping(value))
    throw new Error(
      `${path}: expected a mapping of config keys at the top, got ${Array.isArray(value) ? 'a list' : typeof value}`,
    );
  return value;
}

/** Applies one flag: its YAML value, else its text where the key takes text; alone, True. */
function applyOverride(config: RunConfig, defaults: RunConfig, o: Override): void {
  const source = { flag: o.flag, path: o.path };
  const set = (value: unknown) =>
    applyLayer(config, layerFor(config, o.path.split('.'), value, o.flag), defaults, source);
  if (o.text === undefined) {
    try {
      set(true);
    } catch (err) {
      if (err instanceof ConfigError && err.wrongKind) throw new Error(`${o.flag} needs a value`);
      throw err;
    }
    return;
  }
  if (Array.isArray(o.text)) return set(o.text);
  const text = o.text;
  let value: unknown;
  try {
    value = parse(text, { logLevel: 'silent' });
  } catch {
    value = text;
  }
  try {
    set(value);
  } catch (err) {
    if (!(err instanceof ConfigError && err.wrongKind) || value === text) throw err;
    try {
      set(text);
    } catch {
      throw err;
    }
  }
}

/** The nested mapping that sets `path` to `value`; a number steps into a list (`callbacks.1.prefix`). */
function layerFor(current: unknown, segs: string[], value: unknown, flag: string): unknown {
  if (segs.length === 0) return value;
  const [head, ...rest] = segs;
  if (Array.isArray(current)) {
    const i = Number(head);
    if (!/^\d+$/.test(head) || i >= current.length)
      throw new Error(`${flag}: ${head} is not an index of a list of ${current.length}`);
    const list = structuredClone(current);
    list[i] = rest.length ? deepMerge(list[i], layerFor(list[i], rest, value, flag)) : value;
    return list;
  }
  return { [head]: layerFor(isMapping(current) ? current[head] : undefined, rest, value, flag) };
}
