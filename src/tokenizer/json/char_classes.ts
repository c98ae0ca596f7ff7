/**
 * Character classes of the pre-tokenizer patterns, looked up per code point: letters (`\p{L}`),
 * numbers (`\p{N}`) and whitespace as Oniguruma's `\s` and Rust's `char::is_whitespace` define
 * it (Unicode White_Space: unlike JavaScript's `\s` it has U+0085 and not U+FEFF). The Basic
 * Multilingual Plane is one table built on first use; other planes are classified as met.
 */

/** The class of a code point. */
export const enum CharClass {
  Other = 0,
  Letter = 1,
  Number = 2,
  /** whitespace other than CR and LF */
  Space = 3,
  /** `\r` or `\n` (whitespace too) */
  Newline = 4,
}

/** Unicode White_Space, as a character-class body for JavaScript regular expressions. */
export const WHITE_SPACE = '\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

const LETTER = /\p{L}/u;
const NUMBER = /\p{N}/u;
const SPACE = new RegExp(`[${WHITE_SPACE}]`, 'u');

function classify(cp: number): CharClass {
  if (cp === 10 || cp === 13) return CharClass.Newline;
  const ch = String.fromCodePoint(cp);
  if (LETTER.test(ch)) return CharClass.Letter;
  if (NUMBER.test(ch)) return CharClass.Number;
  if (SPACE.test(ch)) return CharClass.Space;
  return CharClass.Other;
}

let bmp: Uint8Array | null = null;
const astral = new Map<number, CharClass>();

/** The class of every BMP code point (surrogates are Other). */
export function bmpClasses(): Uint8Array {
  if (bmp) return bmp;
  const table = new Uint8Array(65536);
  // one pass of a global regex per class over all BMP characters is much faster than 65,536 tests
  const all =
    Array.from({ length: 0xd800 }, (_, c) => String.fromCharCode(c)).join('') +
    Array.from({ length: 0x2000 }, (_, c) => String.fromCharCode(0xe000 + c)).join('');
  const at = (index: number) => (index < 0xd800 ? index : index + 0x800);
  for (const [re, cls] of [
    [new RegExp(`[${WHITE_SPACE}]`, 'gu'), CharClass.Space],
    [/\p{N}/gu, CharClass.Number],
    [/\p{L}/gu, CharClass.Letter],
  ] as const) {
    for (const m of all.matchAll(re)) table[at(m.index)] = cls;
  }
  table[10] = table[13] = CharClass.Newline;
  return (bmp = table);
}

/** The class of a code point above U+FFFF. */
export function astralClass(cp: number): CharClass {
  let cls = astral.get(cp);
  if (cls === undefined) astral.set(cp, (cls = classify(cp)));
  return cls;
}
