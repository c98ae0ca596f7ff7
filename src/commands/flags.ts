/**
 * Command-line flags in the seed's style: `--name value` or `--name=value`; `--flag` alone is
 * true. Unknown flags and missing values are errors that name the flag.
 */

/** What a command accepts: each flag's kind and, optionally, its default. */
export type FlagSpec = Record<
  string,
  { kind: 'string' | 'number' | 'boolean'; default?: string | number | boolean; required?: boolean }
>;

/** Parsed flags by name (typed by the spec's kinds). */
export type Flags = Record<string, string | number | boolean | undefined>;

const TRUE = new Set(['true', 'True', '1', 'yes']);
const FALSE = new Set(['false', 'False', '0', 'no']);

/** Parses argv against spec (errors name the flag; the runner adds the command's name). */
export function parseFlags(argv: string[], spec: FlagSpec): Flags {
  const out: Flags = {};
  for (const [name, s] of Object.entries(spec)) if (s.default !== undefined) out[name] = s.default;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument '${arg}'`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const s = spec[name];
    if (!s)
      throw new Error(
        `unknown flag --${name} (known: ${Object.keys(spec)
          .map((k) => `--${k}`)
          .join(' ')})`,
      );
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (value === undefined && !(s.kind === 'boolean' && (i + 1 >= argv.length || argv[i + 1].startsWith('--'))))
      value = argv[++i];
    if (s.kind === 'boolean') {
      if (value === undefined || TRUE.has(value)) out[name] = true;
      else if (FALSE.has(value)) out[name] = false;
      else throw new Error(`--${name} takes True or False, got '${value}'`);
    } else if (value === undefined) {
      throw new Error(`--${name} needs a value`);
    } else if (s.kind === 'number') {
      const n = Number(value);
      if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} takes a number, got '${value}'`);
      out[name] = n;
    } else {
      out[name] = value;
    }
  }
  for (const [name, s] of Object.entries(spec))
    if (s.required && out[name] === undefined) throw new Error(`--${name} is required`);
  return out;
}
