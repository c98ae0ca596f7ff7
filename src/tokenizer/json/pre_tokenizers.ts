/**
 * The `pre_tokenizer` of a `tokenizer.json`: text → the words ("pre-tokens") the model encodes
 * one by one, as Hugging Face's Rust tokenizers build them. Each step takes every piece the
 * previous one produced: Split (a literal or Oniguruma pattern, with the five delimiter
 * behaviors and invert), ByteLevel (optional prefix space, GPT-2's split pattern, then bytes
 * written in GPT-2's alphabet), Metaspace (spaces to `▁`, the prefix `▁` always, first or never,
 * then optionally a split before each `▁`), Digits, Sequence.
 *
 * `byteLevelScanner` recognizes the common byte-level shapes (Split with a known pattern then
 * ByteLevel; ByteLevel with its own pattern) so that the tokenizer can cut the raw text with a
 * SplitScanner and hand the raw words to the model's byte-level path.
 */
import { BYTE_CHARS } from './byte_level.ts';
import { bmpClasses, astralClass, CharClass } from './char_classes.ts';
import type { JsonNode } from './json_node.ts';
import { onigurumaRegExp } from './regex.ts';
import { GPT2_PATTERN, SplitScanner } from './split_scanner.ts';

/** Cuts one piece of text into words, appending them to out; atStart: the piece begins the input. */
export type PreTokenize = (text: string, atStart: boolean, out: string[]) => void;

const TYPES = ['Sequence', 'Split', 'ByteLevel', 'Metaspace', 'Digits'] as const;
const BEHAVIORS = ['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous'] as const;
type Behavior = (typeof BEHAVIORS)[number];

const encoder = new TextEncoder();

/** [start, end) ranges of a text, each flagged whether the pattern matched it; they cover the text. */
interface Match {
  start: number;
  end: number;
  isMatch: boolean;
}

/** The pre-tokenizer of a `pre_tokenizer` node (null: each piece is one word). */
export function buildPreTokenizer(node: JsonNode): PreTokenize | null {
  if (node.missing) return null;
  const type = node.type(TYPES);
  switch (type) {
    case 'Sequence': {
      const steps = node
        .get('pretokenizers')
        .items()
        .map(buildPreTokenizer)
        .filter((p): p is PreTokenize => p !== null);
      return (text, atStart, out) => {
        let pieces = [text],
          starts = [atStart];
        for (const step of steps) {
          const next: string[] = [],
            nextStarts: boolean[] = [];
          pieces.forEach((piece, i) => {
            const before = next.length;
            step(piece, starts[i], next);
            for (let k = before; k < next.length; k++) nextStarts.push(starts[i] && k === before);
          });
          pieces = next;
          starts = nextStarts;
        }
        for (const piece of pieces) out.push(piece);
      };
    }
    case 'Split': {
      const find = patternFinder(node.get('pattern'));
      const behavior = node.get('behavior').string() as Behavior;
      if (!BEHAVIORS.includes(behavior))
        node.get('behavior').fail(`"${behavior}" is not one of ${BEHAVIORS.join(', ')}`);
      const invert = node.get('invert').optBoolean(false);
      return (text, _atStart, out) => splitBy(text, find(text), behavior, invert, out);
    }
    case 'ByteLevel': {
      const addPrefixSpace = node.get('add_prefix_space').optBoolean(true);
      const useRegex = node.get('use_regex').optBoolean(true);
      const scanner = useRegex ? SplitScanner.forPattern(GPT2_PATTERN)! : null;
      let ends = new Int32Array(64);
      return (text, _atStart, out) => {
        if (addPrefixSpace && !text.startsWith(' ')) text = ' ' + text;
        if (!scanner) {
          out.push(toAlphabet(text));
          return;
        }
        if (ends.length < text.length) ends = new Int32Array(2 * text.length);
        const n = scanner.split(text, 0, text.length, ends);
        for (let k = 0, start = 0; k < n; start = ends[k++]) out.push(toAlphabet(text.slice(start, ends[k])));
      };
    }
    case 'Metaspace': {
      const replacement = node.get('replacement').string();
      if ([...replacement].length !== 1) node.get('replacement').fail('expected one character');
      const scheme = prependScheme(node);
      const split = node.get('split').optBoolean(true);
      return (text, atStart, out) => {
        if (text.length === 0) return;
        text = text.replaceAll(' ', replacement);
        if (!text.startsWith(replacement) && (scheme === 'always' || (scheme === 'first' && atStart)))
          text = replacement + text;
        if (split)
          splitBy(
            text,
            findChars(text, (cp) => cp === replacement.codePointAt(0)),
            'MergedWithNext',
            false,
            out,
          );
        else out.push(text);
      };
    }
    case 'Digits': {
      const individual = node.get('individual_digits').optBoolean(false);
      const classes = bmpClasses();
      const isNumber = (cp: number) => (cp < 65536 ? classes[cp] : astralClass(cp)) === CharClass.Number;
      return (text, _atStart, out) =>
        splitBy(text, findChars(text, isNumber), individual ? 'Isolated' : 'Contiguous', false, out);
    }
  }
}

/**
 * Metaspace's prepend_scheme (always, first or never; default always). Files written before it
 * existed have add_prefix_space instead, which may only say false next to the scheme never.
 */
export function prependScheme(node: JsonNode): 'always' | 'first' | 'never' {
  const scheme = node.get('prepend_scheme').optString('always');
  if (scheme !== 'always' && scheme !== 'first' && scheme !== 'never')
    node.get('prepend_scheme').fail(`"${scheme}" is not always, first or never`);
  if (node.get('add_prefix_space').optBoolean(true) === false && scheme === 'always')
    node.get('add_prefix_space').fail('false does not match prepend_scheme always');
  return scheme as 'always' | 'first' | 'never';
}

/**
 * The SplitScanner to cut raw text with when the node is one of the byte-level shapes:
 * Sequence [Split (known pattern, Isolated), ByteLevel (no prefix space, no regex)] or
 * ByteLevel (no prefix space, regex); null otherwise.
 */
export function byteLevelScanner(node: JsonNode): SplitScanner | null {
  if (node.missing || !node.isObject()) return null;
  const type = node.get('type').value;
  const flag = (n: JsonNode, key: string, fallback: boolean) =>
    n.get(key).missing ? fallback : n.get(key).value === true;
  if (type === 'ByteLevel')
    return !flag(node, 'add_prefix_space', true) && flag(node, 'use_regex', true)
      ? SplitScanner.forPattern(GPT2_PATTERN)
      : null;
  if (type !== 'Sequence') return null;
  const steps = node.get('pretokenizers').value;
  if (!Array.isArray(steps) || steps.length !== 2) return null;
  const [split, byteLevel] = node.get('pretokenizers').items();
  if (!split.isObject() || !byteLevel.isObject()) return null;
  if (split.get('type').value !== 'Split' || split.get('behavior').value !== 'Isolated' || flag(split, 'invert', false))
    return null;
  if (
    byteLevel.get('type').value !== 'ByteLevel' ||
    flag(byteLevel, 'add_prefix_space', true) ||
    flag(byteLevel, 'use_regex', true)
  )
    return null;
  const pattern = split.get('pattern');
  const regex = pattern.isObject() ? pattern.get('Regex').value : undefined;
  return typeof regex === 'string' ? SplitScanner.forPattern(regex) : null;
}

/** Text in GPT-2's byte alphabet. */
function toAlphabet(text: string): string {
  let out = '';
  for (const b of encoder.encode(text)) out += BYTE_CHARS[b];
  return out;
}

/** A function that finds a Split pattern's matches: {"String": literal} or {"Regex": Oniguruma}. */
function patternFinder(node: JsonNode): (text: string) => Match[] {
  const literal = node.get('String');
  if (!literal.missing) {
    const find = literal.string();
    if (find === '') return (text) => [{ start: 0, end: text.length, isMatch: false }];
    const re = new RegExp(find.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'), 'gu');
    return (text) => findRegex(text, re);
  }
  const regex = node.get('Regex');
  if (regex.missing) node.fail('expected {"String": ...} or {"Regex": ...}');
  let re: RegExp;
  try {
    re = onigurumaRegExp(regex.string());
  } catch (err) {
    regex.fail((err as Error).message);
  }
  return (text) => findRegex(text, re);
}

/** The matches of a global regex and the gaps between them. */
function findRegex(text: string, re: RegExp): Match[] {
  if (text.length === 0) return [{ start: 0, end: 0, isMatch: false }];
  const out: Match[] = [];
  let prev = 0;
  re.lastIndex = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const start = m.index,
      end = start + m[0].length;
    if (end === start) re.lastIndex = start + (text.codePointAt(start)! > 0xffff ? 2 : 1); // step over an empty match
    if (prev !== start) out.push({ start: prev, end: start, isMatch: false });
    out.push({ start, end, isMatch: true });
    prev = end;
    if (re.lastIndex > text.length) break;
  }
  if (prev !== text.length) out.push({ start: prev, end: text.length, isMatch: false });
  return out;
}

/** Every code point that `test` accepts is a match of its own. */
function findChars(text: string, test: (cp: number) => boolean): Match[] {
  if (text.length === 0) return [{ start: 0, end: 0, isMatch: false }];
  const out: Match[] = [];
  let last = 0;
  for (let i = 0; i < text.length; ) {
    const cp = text.codePointAt(i)!;
    const end = i + (cp > 0xffff ? 2 : 1);
    if (test(cp)) {
      if (last < i) out.push({ start: last, end: i, isMatch: false });
      out.push({ start: i, end, isMatch: true });
      last = end;
    }
    i = end;
  }
  if (last < text.length) out.push({ start: last, end: text.length, isMatch: false });
  return out;
}

/** Cuts text at its matches as the delimiter behavior says; empty pieces are dropped. */
function splitBy(text: string, matches: Match[], behavior: Behavior, invert: boolean, out: string[]): void {
  const pieces: { start: number; end: number; keep: boolean }[] = [];
  let previousMatch = false;
  const list = behavior === 'MergedWithNext' ? [...matches].reverse() : matches;
  for (const m of list) {
    const isMatch = m.isMatch !== invert;
    const last = pieces[pieces.length - 1];
    if (behavior === 'Isolated') pieces.push({ start: m.start, end: m.end, keep: true });
    else if (behavior === 'Removed') pieces.push({ start: m.start, end: m.end, keep: !isMatch });
    else if (behavior === 'Contiguous' && last && isMatch === previousMatch) last.end = m.end;
    else if (behavior === 'MergedWithPrevious' && last && isMatch && !previousMatch) last.end = m.end;
    else if (behavior === 'MergedWithNext' && last && isMatch && !previousMatch) last.start = m.start;
    else pieces.push({ start: m.start, end: m.end, keep: true });
    previousMatch = isMatch;
  }
  if (behavior === 'MergedWithNext') pieces.reverse();
  for (const p of pieces) if (p.keep && p.end > p.start) out.push(text.slice(p.start, p.end));
}
