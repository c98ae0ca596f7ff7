/**
 * `--input_glob` patterns: `*` and `?` within one path segment, `[...]` character classes, and
 * `**` for any number of folders. A path without those characters is taken as is. Matches are
 * files, sorted; dot-files match only a pattern segment that starts with a dot.
 */
import { readdirSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';

const MAGIC = /[*?[]/;

/** A RegExp for one path segment of a glob. */
function segmentRegExp(segment: string): RegExp {
  let re = '';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = segment.slice(i + 1, close);
      if (body.startsWith('!')) body = '^' + body.slice(1);
      re += `[${body.replace(/\\/g, '\\\\')}]`;
      i = close;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Every file that matches `pattern`; a pattern with no glob characters is returned as is. */
export function expandGlob(pattern: string): string[] {
  if (!MAGIC.test(pattern)) return [pattern];
  const segments = pattern.split(/[\\/]+/).filter((s, i) => s.length > 0 || i === 0);
  let bases = [isAbsolute(pattern) ? sep : '.'];
  if (segments[0] === '') segments.shift();
  for (let s = 0; s < segments.length; s++) {
    const segment = segments[s];
    const next: string[] = [];
    for (const base of bases) {
      if (segment === '**') {
        next.push(...walkFolders(base));
      } else if (!MAGIC.test(segment)) {
        next.push(join(base, segment));
      } else if (isDir(base)) {
        const re = segmentRegExp(segment);
        for (const name of readdirSync(base)) {
          if (name.startsWith('.') && !segment.startsWith('.')) continue;
          if (re.test(name)) next.push(join(base, name));
        }
      }
    }
    bases = [...new Set(next)];
  }
  return bases
    .filter((p) => {
      try {
        return statSync(p).isFile();
      } catch {
        return false;
      }
    })
    .sort();
}

/** base and every folder below it (not following dot-folders). */
function walkFolders(base: string): string[] {
  const out = [base];
  if (!isDir(base)) return [];
  for (const name of readdirSync(base)) {
    if (name.startsWith('.')) continue;
    const path = join(base, name);
    if (isDir(path)) out.push(...walkFolders(path));
  }
  return out;
}
