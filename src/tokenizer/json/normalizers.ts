/**
 * The `normalizer` of a `tokenizer.json`: a function from text to normalized text, built from
 * the supported components as Hugging Face's Rust tokenizers define them. Lowercase works one
 * character at a time (Rust's `char::to_lowercase`, so a final Σ stays σ); Strip and StripAccents
 * use Unicode White_Space and combining marks; Replace replaces every match of a literal string
 * or an Oniguruma regex with literal text; Prepend adds its text in front of non-empty text.
 */
import { WHITE_SPACE } from './char_classes.ts';
import type { JsonNode } from './json_node.ts';
import { onigurumaRegExp } from './regex.ts';

/** A normalizer. */
export type Normalize = (text: string) => string;

const TYPES = [
  'Sequence',
  'NFC',
  'NFD',
  'NFKC',
  'NFKD',
  'Lowercase',
  'Strip',
  'StripAccents',
  'Replace',
  'Prepend',
] as const;

/** Text that NFC leaves alone for certain: nothing at or above U+0300, where combining marks begin. */
const BELOW_MARKS = /^[\u0000-\u02ff]*$/;
/** Text that every normalization form leaves alone: ASCII. */
const ASCII = /^[\u0000-\u007f]*$/;
const LEADING_SPACE = new RegExp(`^[${WHITE_SPACE}]+`, 'u');
const TRAILING_SPACE = new RegExp(`[${WHITE_SPACE}]+$`, 'u');
const MARKS = /\p{M}/gu;

/** The normalizer of a `normalizer` node, or null for none. */
export function buildNormalizer(node: JsonNode): Normalize | null {
  if (node.missing) return null;
  const type = node.type(TYPES);
  switch (type) {
    case 'Sequence': {
      const parts = node
        .get('normalizers')
        .items()
        .map(buildNormalizer)
        .filter((n): n is Normalize => n !== null);
      return (text) => parts.reduce((t, normalize) => normalize(t), text);
    }
    case 'NFC':
      return (text) => (BELOW_MARKS.test(text) ? text : text.normalize('NFC'));
    case 'NFD':
    case 'NFKC':
    case 'NFKD':
      return (text) => (ASCII.test(text) ? text : text.normalize(type));
    case 'Lowercase':
      return (text) => (ASCII.test(text) ? text.toLowerCase() : lowercaseEachChar(text));
    case 'StripAccents':
      return (text) => text.replace(MARKS, '');
    case 'Strip': {
      const left = node.get('strip_left').optBoolean(true),
        right = node.get('strip_right').optBoolean(true);
      return (text) => {
        if (left) text = text.replace(LEADING_SPACE, '');
        if (right) text = text.replace(TRAILING_SPACE, '');
        return text;
      };
    }
    case 'Replace':
      return replacer(node);
    case 'Prepend': {
      const prepend = node.get('prepend').string();
      return (text) => (text.length === 0 ? text : prepend + text);
    }
  }
}

/** Lowercases one code point at a time, as Rust's `char::to_lowercase` does. */
function lowercaseEachChar(text: string): string {
  let out = '';
  for (const ch of text) out += ch.toLowerCase();
  return out;
}

/** A Replace normalizer or decoder: every match of `pattern` (a String or a Regex) becomes `content`. */
export function replacer(node: JsonNode): Normalize {
  const pattern = node.get('pattern');
  const content = node.get('content').string();
  const literal = pattern.get('String');
  if (!literal.missing) {
    const find = literal.string();
    return (text) => (find === '' ? text : text.replaceAll(find, content));
  }
  const regex = pattern.get('Regex');
  if (regex.missing) pattern.fail('expected {"String": ...} or {"Regex": ...}');
  let re: RegExp;
  try {
    re = onigurumaRegExp(regex.string());
  } catch (err) {
    regex.fail((err as Error).message);
  }
  return (text) => text.replace(re, () => content);
}
