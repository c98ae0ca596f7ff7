/**
 * Generated edge-case strings for tokenizer tests: whitespace runs, tabs, newlines, digits,
 * CJK, emoji (with joiners and modifiers), combining marks, compatibility forms, control
 * characters, literal special-token text, long words, the empty string, and random mixtures of
 * all of them. Deterministic for a seed. No lone surrogates (Python cannot pass them to the oracle).
 */
import { Rng } from '../../src/runtime/random.ts';

/** A seeded stream of uniform numbers in [0, 1) (the project's generator). */
function generator(seed: number): () => number {
  const rng = new Rng(seed);
  return () => rng.uniform();
}

const FIXED = [
  '',
  ' ',
  '  ',
  '   ',
  '\t',
  '\n',
  '\r\n',
  ' \n',
  '\n ',
  '\n\n\n',
  ' \t \n ',
  '\u3000',
  '\u00a0',
  '\u2581',
  '\u2581\u2581x',
  'a',
  'A',
  '0',
  '00',
  '0123456789',
  '3.14159',
  '1,000,000',
  '-42',
  '1e-9',
  '2024-01-01',
  'grabbed',
  ' grabbed',
  'Hello world!',
  'Hello  world!',
  ' leading',
  'trailing ',
  '  both  ',
  '镇',
  '中文分词测试',
  '日本語のテキスト',
  '한국어 문장',
  'Ελληνικά',
  'русский текст',
  'עברית',
  'العربية',
  'हिन्दी',
  '🦙',
  '👍🏽',
  '👨‍👩‍👧‍👦',
  '🏳️‍🌈',
  '❤️',
  '🇯🇵',
  'a🦙b',
  '🦙🦙🦙',
  'e\u0301',
  'n\u0303',
  'a\u0300\u0301\u0302\u0303',
  '\u0301',
  'Z\u0351\u0363\u036b\u0350',
  'ﬁ',
  'ｆｕｌｌｗｉｄｔｈ',
  '①②③',
  'Ⅻ',
  '㍿',
  'ℌ',
  '\u00bd',
  'x\u00b2',
  '</s>',
  '<s>',
  '<unk>',
  'a</s>b',
  '<s>hello</s>',
  ' </s> ',
  '</s></s>',
  '<</s>>',
  '</s',
  '<unk><s></s>',
  '<pad>',
  '<sep>',
  '<ctl>',
  'xyz',
  '\u0000',
  '\u0001\u0002',
  '\u007f',
  '\u200b',
  '\u200d',
  '\ufeff',
  '\ufffd',
  '\ue000',
  '\u{10ffff}',
  '\u{1d400}',
  'a'.repeat(100),
  'antidisestablishmentarianism'.repeat(8),
  'x'.repeat(1000),
  '\u2581'.repeat(20),
  ' '.repeat(50),
  'The quick brown fox jumps over the lazy dog.',
  "don't won't can't",
  'e-mail: user@example.com',
  'https://example.com/a?b=c&d=e',
  '```js\nconst x = 1;\n```',
  '\tindented\n\t\tmore',
  'CamelCaseIdentifier',
  'snake_case_name',
  '#hashtag @mention',
];

/** Pools the random mixtures draw from. */
const POOLS = [
  ' ',
  '  ',
  '\t',
  '\n',
  '\n\n',
  '\r',
  ' \u3000',
  '0123456789',
  'abcdefghijklmnopqrstuvwxyz',
  'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
  '.,;:!?\'"()[]{}<>/\\|-_=+*&^%$#@~`',
  '的一是不了人我在有他这为之大来以个中上们',
  'あいうえおかきくけこアイウエオ',
  '가나다라마바사',
  'абвгдеёжзий',
  'αβγδεζηθ',
  '\u0300\u0301\u0302\u0308\u0327',
  '🦙🚀🌍😀👍🏽\u200d♀️',
  'ﬁﬂ①②ｆｕｌＡＢ',
  '\u00a0\u2009\u202f',
];
const WORDS = [
  'the',
  ' the',
  'Response',
  'Instruction',
  '###',
  ' ASSISTANT:',
  'USER:',
  '</s>',
  '<s>',
  '<unk>',
  'ing',
  'tion',
  '▁',
  '\u2581the\u2581',
];

/** At least `count` edge-case strings (the fixed list first, then random mixtures). */
export function edgeStrings(count: number, seed = 7): string[] {
  const rand = generator(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
  const out = [...FIXED];
  while (out.length < count) {
    let s = '';
    const parts = 1 + Math.floor(rand() * 12);
    for (let p = 0; p < parts; p++) {
      if (rand() < 0.3) {
        s += pick(WORDS);
        continue;
      }
      const pool = [...pick(POOLS)];
      const n = 1 + Math.floor(rand() * 8);
      for (let k = 0; k < n; k++) s += pick(pool);
    }
    out.push(s);
  }
  return out;
}
