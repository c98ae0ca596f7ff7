/**
 * Merges one layer (a parsed YAML file, or a command-line override turned into a nested mapping)
 * into the configuration, key by key against the defaults: an unknown key, a value of the wrong
 * kind, out of range or not among its choices stops with one line that names the file or flag
 * and the key path.
 */
import { CALLBACK_DEFAULTS } from './defaults.ts';
import { checkValue, OPAQUE, OPTIONAL_BLOCK, show, type Problem } from './schema.ts';

/** Where a layer comes from: a config file, or a flag that sets the given path. */
export type Source = { file: string } | { flag: string; path: string };

/** A configuration error; `wrongKind` marks a value of the wrong kind (a flag may retry it as text). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly wrongKind = false,
  ) {
    super(message);
  }
}

type Mapping = Record<string, unknown>;

/** True for a plain mapping (not a list, not null). */
export function isMapping(v: unknown): v is Mapping {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** `b` merged into a copy of `a`, mappings recursively; anything else in `b` replaces. */
export function deepMerge(a: unknown, b: unknown): unknown {
  if (!isMapping(a) || !isMapping(b)) return structuredClone(b);
  const out: Mapping = structuredClone(a);
  for (const [k, v] of Object.entries(b)) {
    if (k === '__proto__') continue;
    out[k] = Object.hasOwn(out, k) ? deepMerge(out[k], v) : structuredClone(v);
  }
  return out;
}

/** Merges `layer` into `config` (both the whole configuration); `defaults` is defaultRunConfig(). */
export function applyLayer(config: object, layer: unknown, defaults: object, source: Source): void {
  mergeMapping(config as Mapping, layer, defaults as Mapping, '', source);
}

function mergeMapping(target: Mapping, layer: unknown, defaults: Mapping, path: string, src: Source): void {
  if (!isMapping(layer)) throw wrongKind(src, path, 'a mapping of keys', layer);
  for (const [key, value] of Object.entries(layer)) {
    const p = path ? `${path}.${key}` : key;
    if (!Object.hasOwn(defaults, key)) throw unknownKey(src, p, Object.keys(defaults));
    const d = defaults[key];
    if (OPAQUE.has(p)) {
      target[key] = deepMerge(target[key], value);
    } else if (p === 'callbacks') {
      target[key] = callbackList(value, p, src);
    } else if (p === OPTIONAL_BLOCK && value === null) {
      delete target[key];
    } else if (isMapping(d)) {
      if (!isMapping(value)) throw wrongKind(src, p, 'a mapping of keys', value);
      if (!isMapping(target[key])) target[key] = structuredClone(d);
      const block = target[key] as Mapping;
      mergeMapping(block, value, d, p, src);
      // MindFormers has LoRA only where the file's model_config has a pet_config block
      if (`${p}.pet_config` === OPTIONAL_BLOCK && 'file' in src && !Object.hasOwn(value, 'pet_config'))
        delete block.pet_config;
    } else {
      const problem = checkValue(p, value, d);
      if (problem) throw problemError(src, p, value, problem);
      target[key] = structuredClone(value);
    }
  }
}

/** A `callbacks:` list: each entry merged over its type's defaults (CheckpointMointor, MindFormers' old spelling, is read as CheckpointMonitor). */
function callbackList(value: unknown, path: string, src: Source): unknown[] {
  if (!Array.isArray(value)) throw wrongKind(src, path, 'a list of {type: ...} entries', value);
  return value.map((entry, i) => {
    const p = `${path}.${i}`;
    if (!isMapping(entry)) throw wrongKind(src, p, 'a mapping with a type', entry);
    const type = entry.type === 'CheckpointMointor' ? 'CheckpointMonitor' : entry.type;
    if (typeof type !== 'string' || !Object.hasOwn(CALLBACK_DEFAULTS, type)) {
      throw problemError(src, `${p}.type`, type, {
        type: 'enum',
        value: type,
        options: Object.keys(CALLBACK_DEFAULTS),
      });
    }
    const template = CALLBACK_DEFAULTS[type as keyof typeof CALLBACK_DEFAULTS];
    const out = structuredClone(template) as Mapping;
    mergeMapping(out, { ...entry, type }, template, p, src);
    return out;
  });
}

/** The prefix before a message and the name of the value: the file and path, or the flag. */
function subject(src: Source, path: string): [string, string] {
  if ('file' in src) return [`${src.file}: `, path];
  return path === src.path ? ['', src.flag] : [`${src.flag}: `, path];
}

function wrongKind(src: Source, path: string, expected: string, value: unknown): ConfigError {
  return problemError(src, path, value, { type: 'kind', expected });
}

function problemError(src: Source, path: string, value: unknown, problem: Problem): ConfigError {
  const [prefix, name] = subject(src, path);
  switch (problem.type) {
    case 'kind':
      return new ConfigError(
        `${prefix}${name}: expected ${problem.expected}, got ${show(value)}${problem.hint ? ` (${problem.hint})` : ''}`,
        true,
      );
    case 'range':
      return new ConfigError(`${prefix}${name} ${problem.text}`);
    case 'enum':
      return new ConfigError(`${prefix}unknown ${name} ${show(problem.value)} (${problem.options.join(', ')})`);
  }
}

function unknownKey(src: Source, path: string, siblings: string[]): ConfigError {
  const key = path.slice(path.lastIndexOf('.') + 1);
  const near = nearest(key, siblings);
  const hint = near ? ` (did you mean ${path.slice(0, path.length - key.length)}${near}?)` : '';
  return new ConfigError(`${'file' in src ? src.file : src.flag}: unknown key ${path}${hint}`);
}

/** The candidate nearest to `name` (at most two edits away), for "did you mean". */
export function nearest(name: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined,
    bestD = 3;
  for (const c of candidates) {
    const d = editDistance(c, name);
    if (d < bestD) {
      best = c;
      bestD = d;
    }
  }
  return best;
}

/** Levenshtein distance, for "did you mean". */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length];
}
