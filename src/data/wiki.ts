/**
 * `llama_preprocess --dataset_type wiki`: MindFormers' `clean_wikitext` (which undoes
 * wikitext's ` @-@ `, ` @,@ `, ` @.@ ` marks and its spacing around punctuation and brackets,
 * quirks included), then the paragraphs that get tokenized: the text split on blank lines,
 * without empty paragraphs and without headings (paragraphs that start with "=" once stripped).
 */

/** Python's `\s` and `str.strip()` whitespace, which differs from JavaScript's. */
const PY_SPACE = '\\t\\n\\v\\f\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';

/** A bracket pair's inner spaces dropped, as `re.sub(r"\(\s*([^\)]*?)\s*\)", r"(\1)", s)` does. */
function bracketRule(open: string, close: string): [RegExp, string] {
  const o = `\\${open}`,
    c = `\\${close}`;
  return [new RegExp(`${o}[${PY_SPACE}]*([^${c}]*?)[${PY_SPACE}]*${c}`, 'g'), `${open}$1${close}`];
}

/** clean_wikitext's steps in order: a string for a literal replacement, a RegExp for re.sub. */
const STEPS: [string | RegExp, string][] = [
  ["s '", "s'"],
  [/\/' [0-9]\//g, "/'[0-9]/"],
  [' @-@ ', '-'],
  [' @,@ ', ','],
  [' @.@ ', '.'],
  [' : ', ': '],
  [' ; ', '; '],
  [' . ', '. '],
  [' ! ', '! '],
  [' ? ', '? '],
  [' , ', ', '],
  bracketRule('(', ')'),
  bracketRule('[', ']'),
  bracketRule('{', '}'),
  bracketRule('"', '"'),
  bracketRule("'", "'"),
  ['= = = =', '===='],
  ['= = =', '==='],
  ['= =', '=='],
  [' \u00b0 ', '\u00b0'],
  [' \n', '\n'],
  ['\n ', '\n'],
  [' N ', ' 1 '],
  [" 's", "'s"],
];

/** MindFormers' `clean_wikitext`. */
export function cleanWikitext(text: string): string {
  for (const [pattern, replacement] of STEPS) {
    text = typeof pattern === 'string' ? text.replaceAll(pattern, replacement) : text.replace(pattern, replacement);
  }
  return text;
}

const LEADING_PY_SPACE = new RegExp(`^[${PY_SPACE}]*`);

/** The paragraphs of a wikitext file's text that get tokenized, in order (newlines already universal). */
export function wikiParagraphs(text: string): string[] {
  return cleanWikitext(text)
    .split('\n\n')
    .filter((p) => p.length > 0 && !p.replace(LEADING_PY_SPACE, '').startsWith('='));
}

/** Python's universal newlines: CRLF and lone CR become LF. */
export function universalNewlines(text: string): string {
  return text.replace(/\r\n?/g, '\n');
}
