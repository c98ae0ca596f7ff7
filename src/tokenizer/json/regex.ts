/**
 * Oniguruma patterns (what `tokenizer.json` files hold, as Hugging Face's Rust tokenizers compile
 * them) rewritten as JavaScript regular expressions with the `u` flag. Both engines backtrack
 * and try alternatives left to right, so a faithful rewrite of each construct matches the same
 * text. What differs is rewritten: `\s` is Unicode White_Space (not JavaScript's set), `\w` and
 * `\d` are Unicode, `\h` is a hex digit, `.` excludes only `\n`, `^` and `$` are line anchors,
 * `(?i:...)` groups (which JavaScript before ES2025 lacks) spell out both cases of each ASCII
 * letter. Constructs without an equivalent (possessive quantifiers, atomic groups, other inline
 * options, case-insensitive ranges or non-ASCII cased letters) are refused with an error.
 */
import { WHITE_SPACE } from './char_classes.ts';

const WORD = '\\p{Alphabetic}\\p{M}\\p{Nd}\\p{Pc}\\u00b2\\u00b3\\u00b9\\u00bc-\\u00be';
const HEX = '0-9a-fA-F';
/** Characters that must stay escaped in a JavaScript `u` pattern (outside and inside classes). */
const SYNTAX = new Set('^$\\.*+?()[]{}|/-');
/** Letters whose case folding reaches beyond ASCII: ſ folds to s, the Kelvin sign to k. */
const EXTRA_FOLDS: Record<string, string> = { s: '\u017f', k: '\u212a' };

/** An error in a pattern, with where it is. */
function refuse(pattern: string, at: number, what: string): never {
  throw new Error(`regex ${JSON.stringify(pattern)}: ${what} at offset ${at} is not supported`);
}

/** Both cases of an ASCII letter (and its non-ASCII folds) as class members, or the character itself. */
function caseVariants(ch: string): string {
  const lower = ch.toLowerCase(),
    upper = ch.toUpperCase();
  if (lower === upper) return ch;
  return lower + upper + (EXTRA_FOLDS[lower] ?? '');
}

/** Translates an Oniguruma pattern to the source of an equivalent JavaScript `u` pattern. */
export function translateOniguruma(pattern: string): string {
  let out = '';
  let inClass = false;
  let classStart = 0; // out offset just after the class's '[' (and '^')
  const groups: boolean[] = []; // per open group: whether it ignores case
  let ignoreCase = false;
  const chars = [...pattern];
  let offset = 0; // in code units, for errors
  for (let k = 0; k < chars.length; offset += chars[k].length, k++) {
    const ch = chars[k];
    if (ch === '\\') {
      const e = chars[k + 1];
      if (e === undefined) refuse(pattern, offset, 'a trailing backslash');
      k++;
      offset += 1;
      out += translateEscape(pattern, offset, e, chars, k, inClass, (consumed) => {
        for (let m = 0; m < consumed; m++) offset += chars[++k].length;
      });
      continue;
    }
    if (inClass) {
      if (ch === ']' && out.length > classStart) {
        inClass = false;
        out += ']';
        continue;
      }
      if (ch === '[') refuse(pattern, offset, 'a nested character class');
      if (ch === '&' && chars[k + 1] === '&') refuse(pattern, offset, 'a class intersection');
      if (ignoreCase && /[a-zA-Z]/.test(ch)) {
        if (chars[k + 1] === '-' || out.endsWith('-')) refuse(pattern, offset, 'a case-insensitive range');
        out += caseVariants(ch);
        continue;
      }
      if (ignoreCase && ch.toLowerCase() !== ch.toUpperCase())
        refuse(pattern, offset, 'a case-insensitive non-ASCII letter');
      out += ch === '/' || (ch === '-' && (out.length === classStart || chars[k + 1] === ']')) ? `\\${ch}` : ch;
      continue;
    }
    switch (ch) {
      case '[':
        inClass = true;
        out += '[';
        if (chars[k + 1] === '^') {
          out += '^';
          k++;
          offset += 1;
        }
        classStart = out.length;
        if (chars[k + 1] === ']') {
          out += '\\]';
          k++;
          offset += 1;
        } // a leading ']' is literal
        break;
      case '(': {
        groups.push(ignoreCase);
        const rest = chars[k + 1] === '?' ? chars.slice(k + 2, k + 6).join('') : null;
        if (rest !== null && rest.startsWith('i:')) {
          ignoreCase = true;
          out += '(?:';
          k += 3;
          offset += 3;
        } else if (rest === null || /^(:|=|!|<=|<!|<[A-Za-z_])/.test(rest)) {
          out += '(';
        } else {
          refuse(pattern, offset, `the group "(?${rest}"`);
        }
        break;
      }
      case ')':
        if (groups.length === 0) refuse(pattern, offset, 'an unmatched ")"');
        ignoreCase = groups.pop()!;
        out += ')';
        break;
      case '.':
        out += '[^\\n]';
        break;
      case '^':
        out += '(?<=^|\\n)';
        break;
      case '$':
        out += '(?=\\n|$)';
        break;
      case '*':
      case '+':
      case '?':
        if (chars[k + 1] === '+') refuse(pattern, offset, 'a possessive quantifier');
        out += ch;
        break;
      case '}':
        if (chars[k + 1] === '+' || (chars[k + 1] === '?' && chars[k + 2] === '+'))
          refuse(pattern, offset, 'a repeated {n,m} quantifier');
        out += ch;
        break;
      case ']':
        out += '\\]';
        break;
      case '{':
        if (chars[k + 1] === ',') {
          out += '{0';
          break;
        } // Oniguruma's {,n} is {0,n}
        out += ch;
        break;
      default:
        if (ignoreCase && /[a-zA-Z]/.test(ch)) out += `[${caseVariants(ch)}]`;
        else if (ignoreCase && ch.toLowerCase() !== ch.toUpperCase())
          refuse(pattern, offset, 'a case-insensitive non-ASCII letter');
        else out += ch === '/' ? '\\/' : ch;
    }
  }
  if (inClass) refuse(pattern, offset, 'an unclosed "["');
  if (groups.length > 0) refuse(pattern, offset, 'an unclosed "("');
  return out;
}

/** The JavaScript for the escape `\e` (chars[k] is e); `consume(n)` takes n more characters. */
function translateEscape(
  pattern: string,
  offset: number,
  e: string,
  chars: string[],
  k: number,
  inClass: boolean,
  consume: (n: number) => void,
): string {
  const set = (body: string, negated: boolean) => {
    if (!inClass) return `[${negated ? '^' : ''}${body}]`;
    if (negated) refuse(pattern, offset, `\\${e} inside a character class`);
    return body;
  };
  switch (e) {
    case 's':
      return set(WHITE_SPACE, false);
    case 'S':
      return set(WHITE_SPACE, true);
    case 'w':
      return set(WORD, false);
    case 'W':
      return set(WORD, true);
    case 'd':
      return '\\p{Nd}';
    case 'D':
      return inClass ? refuse(pattern, offset, '\\D inside a character class') : '\\P{Nd}';
    case 'h':
      return set(HEX, false);
    case 'H':
      return set(HEX, true);
    case 'A':
      return '^';
    case 'z':
      return '$';
    case 'Z':
      return '(?=\\n?$)';
    case 'p':
    case 'P': {
      const close = chars.indexOf('}', k);
      if (chars[k + 1] !== '{' || close < 0) refuse(pattern, offset, `\\${e} without {...}`);
      const name = chars.slice(k + 2, close).join('');
      consume(close - k);
      return name.startsWith('^') ? `\\${e === 'p' ? 'P' : 'p'}{${name.slice(1)}}` : `\\${e}{${name}}`;
    }
    case 'x':
      if (chars[k + 1] === '{') {
        const close = chars.indexOf('}', k);
        if (close < 0) refuse(pattern, offset, '\\x{ without }');
        const hex = chars.slice(k + 2, close).join('');
        consume(close - k);
        return `\\u{${hex}}`;
      }
      return '\\x';
    case 'n':
    case 'r':
    case 't':
    case 'f':
    case 'v':
    case 'u':
    case 'b':
    case 'B':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
      return `\\${e}`;
    case 'G':
    case 'K':
    case 'R':
    case 'X':
    case 'k':
    case 'g':
    case 'Q':
      return refuse(pattern, offset, `\\${e}`);
    default:
      if (/[A-Za-z]/.test(e)) return refuse(pattern, offset, `\\${e}`);
      return SYNTAX.has(e) && (inClass || e !== '-') ? `\\${e}` : e;
  }
}

const compiled = new Map<string, RegExp>();

/** A global JavaScript RegExp that matches as the Oniguruma pattern does (compiled once per pattern). */
export function onigurumaRegExp(pattern: string): RegExp {
  let re = compiled.get(pattern);
  if (!re) compiled.set(pattern, (re = new RegExp(translateOniguruma(pattern), 'gu')));
  return re;
}
