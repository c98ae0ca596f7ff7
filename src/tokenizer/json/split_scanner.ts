/**
 * Hand-written matchers for the split patterns of the byte-level BPE tokenizers (GPT-2's, Llama
 * 3's and Qwen's), which give the same pieces as Oniguruma running the pattern (leftmost-first
 * alternation, greedy repetition with backtracking) but walk the text once with a class table
 * instead of a regular expression with Unicode property classes. Any other pattern goes through
 * the translated regular expression (regex.ts).
 *
 * The patterns, with the alternatives tried in order at each position:
 *   GPT-2:   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 *   Llama 3: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *   Qwen 2:  as Llama 3 with \p{N} for \p{N}{1,3}
 */
import { astralClass, bmpClasses, CharClass } from './char_classes.ts';

/** What distinguishes the patterns. */
interface Rules {
  /** the contractions ignore case */
  caseInsensitive: boolean;
  /** GPT-2: letters, numbers and other runs may start with one space; else any one non-letter, non-number, non-newline may lead letters */
  gpt2: boolean;
  /** the longest run of numbers in one piece */
  maxDigits: number;
}

const CONTRACTIONS = `'s|'t|'re|'ve|'m|'ll|'d`;
const LLAMA3_TAIL = `| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+`;

/** The patterns this module matches by hand, as written in tokenizer.json files. */
export const KNOWN_PATTERNS: Record<string, Rules> = {
  [`${CONTRACTIONS}| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+`]: {
    caseInsensitive: false,
    gpt2: true,
    maxDigits: Infinity,
  },
  [`(?i:${CONTRACTIONS})|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}${LLAMA3_TAIL}`]: {
    caseInsensitive: true,
    gpt2: false,
    maxDigits: 3,
  },
  [`(?i:${CONTRACTIONS})|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}${LLAMA3_TAIL}`]: {
    caseInsensitive: true,
    gpt2: false,
    maxDigits: 1,
  },
};

/** GPT-2's pattern, which the ByteLevel pre-tokenizer uses with `use_regex`. */
export const GPT2_PATTERN = Object.keys(KNOWN_PATTERNS)[0];

const APOSTROPHE = 0x27,
  SPACE = 0x20;

/** Cuts text into the pieces of one known pattern. */
export class SplitScanner {
  private readonly table = bmpClasses();

  constructor(private readonly rules: Rules) {}

  /** The scanner of a pattern, or null when it is not one of KNOWN_PATTERNS. */
  static forPattern(pattern: string): SplitScanner | null {
    const rules = Object.hasOwn(KNOWN_PATTERNS, pattern) ? KNOWN_PATTERNS[pattern] : undefined;
    return rules ? new SplitScanner(rules) : null;
  }

  /**
   * Writes the end offset of each piece of text[start, end) to `ends` (which must hold
   * end - start entries); returns the number of pieces. The pieces cover the range.
   */
  split(text: string, start: number, end: number, ends: Int32Array): number {
    let n = 0;
    for (let i = start; i < end; ) {
      i = this.matchAt(text, i, end);
      ends[n++] = i;
    }
    return n;
  }

  /** The end of the match at i (always past i). */
  private matchAt(text: string, i: number, end: number): number {
    const cls = this.classAt(text, i);
    const after = this.nextAt(text, i);
    const c = text.charCodeAt(i);
    if (c === APOSTROPHE && after < end) {
      const m = this.contraction(text, after, end);
      if (m > 0) return m;
    }
    const nextCls = after < end ? this.classAt(text, after) : -1;
    if (this.rules.gpt2) {
      if (cls === CharClass.Letter || cls === CharClass.Number || cls === CharClass.Other)
        return this.run(text, i, end, cls, Infinity);
      if (c === SPACE && (nextCls === CharClass.Letter || nextCls === CharClass.Number || nextCls === CharClass.Other))
        return this.run(text, after, end, nextCls, Infinity);
      return this.spaces(text, i, end, false);
    }
    if (cls === CharClass.Letter) return this.run(text, i, end, CharClass.Letter, Infinity);
    if (nextCls === CharClass.Letter && cls !== CharClass.Number && cls !== CharClass.Newline)
      return this.run(text, after, end, CharClass.Letter, Infinity);
    if (cls === CharClass.Number) return this.run(text, i, end, CharClass.Number, this.rules.maxDigits);
    if (cls === CharClass.Other) return this.newlines(text, this.run(text, i, end, CharClass.Other, Infinity), end);
    if (c === SPACE && nextCls === CharClass.Other)
      return this.newlines(text, this.run(text, after, end, CharClass.Other, Infinity), end);
    return this.spaces(text, i, end, true);
  }

  /** After an apostrophe at `at - 1`: the end of 's 't 're 've 'm 'll 'd, or 0. */
  private contraction(text: string, at: number, end: number): number {
    const a = this.fold(text.charCodeAt(at));
    if (a === 0x73 || a === 0x74 || a === 0x6d || a === 0x64) return at + 1; // s t m d
    if (at + 1 >= end) return 0;
    const b = this.fold(text.charCodeAt(at + 1));
    if ((a === 0x72 && b === 0x65) || (a === 0x76 && b === 0x65) || (a === 0x6c && b === 0x6c)) return at + 2; // re ve ll
    return 0;
  }

  /** A contraction letter as matched: case-folded where the pattern ignores case (ſ is s). */
  private fold(c: number): number {
    if (!this.rules.caseInsensitive) return c;
    if (c >= 0x41 && c <= 0x5a) return c + 32;
    return c === 0x17f ? 0x73 : c;
  }

  /** The end of a run of class `cls` starting at i, at most `max` code points long. */
  private run(text: string, i: number, end: number, cls: CharClass, max: number): number {
    let count = 0;
    while (i < end && count < max && this.classAt(text, i) === cls) {
      i = this.nextAt(text, i);
      count++;
    }
    return i;
  }

  /** `[\r\n]*` from i. */
  private newlines(text: string, i: number, end: number): number {
    while (i < end && (text.charCodeAt(i) === 10 || text.charCodeAt(i) === 13)) i++;
    return i;
  }

  /**
   * At whitespace: `\s*[\r\n]+` (through the run's last newline, when `newlineRule`), else
   * `\s+(?!\S)` (the run but its last character, unless the run ends the text), else `\s+`.
   */
  private spaces(text: string, i: number, end: number, newlineRule: boolean): number {
    let j = i,
      lastNewline = -1,
      last = i;
    while (j < end) {
      const cls = this.classAt(text, j);
      if (cls !== CharClass.Space && cls !== CharClass.Newline) break;
      if (cls === CharClass.Newline) lastNewline = j;
      last = j;
      j = this.nextAt(text, j);
    }
    if (newlineRule && lastNewline >= 0) return lastNewline + 1;
    if (j < end && last > i) return last;
    return j;
  }

  private classAt(text: string, i: number): CharClass {
    const c = text.charCodeAt(i);
    if (c < 0xd800 || c >= 0xdc00) return this.table[c];
    return astralClass(text.codePointAt(i)!);
  }

  private nextAt(text: string, i: number): number {
    const c = text.charCodeAt(i);
    return c >= 0xd800 && c < 0xdc00 && i + 1 < text.length ? i + 2 : i + 1;
  }
}
