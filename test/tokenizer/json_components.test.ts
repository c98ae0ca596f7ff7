/**
 * The parts of tokenizer.json that the Llama 3, Qwen3 and converted Llama 2 files do not use,
 * each against Hugging Face's Rust tokenizers on files made by changing one part of those:
 * pre-tokenizers (ByteLevel with and without its own pattern and prefix space, Split with every
 * delimiter behavior and invert, Digits, Metaspace with split and each prepend scheme),
 * Oniguruma patterns rewritten as JavaScript regular expressions (the known patterns too, which
 * the tokenizer otherwise cuts with hand-written scanners), normalizers, added tokens with
 * single_word/lstrip/rstrip/normalized, the template before and after the text, decoders; and the
 * one-line errors for files that cannot be read.
 */
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { JsonTokenizer } from '../../src/tokenizer/json/tokenizer.ts';
import { JsonNode } from '../../src/tokenizer/json/json_node.ts';
import { buildPreTokenizer } from '../../src/tokenizer/json/pre_tokenizers.ts';
import { KNOWN_PATTERNS, SplitScanner } from '../../src/tokenizer/json/split_scanner.ts';
import { parseModel } from '../../src/tokenizer/model.ts';
import { llamaTokenizerJson } from '../../src/tokenizer/spm_to_json.ts';
import { llamaModelFile, scratchDir } from '../reference/oracles.ts';
import {
  assertAllEqual,
  compareWithHuggingFace,
  LLAMA3_JSON,
  QWEN3_JSON,
  rustTokenizer,
  sampleStrings,
} from './hf_oracle.ts';

type Json = Record<string, unknown>;
const dir = scratchDir();
let qwen: Json;
let llama3: Json;
let llama2: Json;
before(async () => {
  qwen = JSON.parse(readFileSync(QWEN3_JSON, 'utf8')) as Json;
  llama3 = JSON.parse(readFileSync(LLAMA3_JSON, 'utf8')) as Json;
  const model = await llamaModelFile(dir);
  llama2 = llamaTokenizerJson(parseModel(readFileSync(model), model), model) as Json;
});

/** Patterns of real tokenizer.json files beyond the three known ones (DeepSeek's, GPT-4o's, BERT-like words). */
const PATTERNS = [
  "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?|[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
  '\\s?[!-/:-~！-／：-～‘-‟　-。]+',
  '[一-龥ࠀ-一가-퟿]+',
  '\\s+$',
  '\\w+|[^\\w\\s]+',
  '\\d{2,}|\\h+|.',
  '(?i:the|and)|[\\-\\[\\]\\\\]+',
];

/** A pre-tokenizer's pieces from Hugging Face and from this code, for each string. */
async function comparePreTokenizer(preTokenizer: Json, strings: string[], what: string): Promise<void> {
  const rust = rustTokenizer(JSON.stringify({ ...llama2, pre_tokenizer: preTokenizer })).getPreTokenizer()!;
  const ours = buildPreTokenizer(new JsonNode(preTokenizer, 'test.json', 'pre_tokenizer'))!;
  const theirs = strings.map((s) => rust.preTokenizeString(s).map(([piece]) => piece));
  assertAllEqual(
    strings,
    strings.map((s) => {
      const out: string[] = [];
      ours(s, true, out);
      return out;
    }),
    theirs,
    what,
  );
}

/** Compares a tokenizer made from `base` with some parts replaced. */
async function compareVariant(base: Json, parts: Json, what: string): Promise<void> {
  const json = JSON.stringify({ ...base, ...parts });
  await compareWithHuggingFace(JsonTokenizer.fromText(json, `${what}.json`), json, sampleStrings(), what);
}

const byteLevel = (addPrefixSpace: boolean, useRegex: boolean) => ({
  type: 'ByteLevel',
  add_prefix_space: addPrefixSpace,
  trim_offsets: false,
  use_regex: useRegex,
});
const split = (regex: string, behavior: string, invert = false) => ({
  type: 'Split',
  pattern: { Regex: regex },
  behavior,
  invert,
});

describe('tokenizer.json parts against Hugging Face', () => {
  it('splits as Oniguruma does with patterns rewritten for JavaScript, the known ones included, and the scanners cut the known ones the same way', async () => {
    const strings = sampleStrings();
    for (const pattern of [...Object.keys(KNOWN_PATTERNS), ...PATTERNS])
      await comparePreTokenizer(split(pattern, 'Isolated'), strings, `pattern ${pattern.slice(0, 40)}`);
    for (const pattern of Object.keys(KNOWN_PATTERNS)) {
      const scanner = SplitScanner.forPattern(pattern)!;
      const rust = rustTokenizer(
        JSON.stringify({ ...llama2, pre_tokenizer: split(pattern, 'Isolated') }),
      ).getPreTokenizer()!;
      const pieces = strings.map((s) => {
        const ends = new Int32Array(s.length);
        const n = scanner.split(s, 0, s.length, ends);
        return Array.from(ends.subarray(0, n), (end, k) => s.slice(k === 0 ? 0 : ends[k - 1], end));
      });
      assertAllEqual(
        strings,
        pieces,
        strings.map((s) => rust.preTokenizeString(s).map(([piece]) => piece)),
        `scanner ${pattern.slice(0, 40)}`,
      );
    }
  });

  it('cuts with every delimiter behavior, invert, Digits, a literal pattern and Metaspace as Hugging Face does', async () => {
    const strings = sampleStrings().slice(0, 800);
    for (const behavior of ['Removed', 'MergedWithPrevious', 'MergedWithNext', 'Contiguous']) {
      await comparePreTokenizer(split('\\s+|\\p{N}', behavior), strings, behavior);
      await comparePreTokenizer(split('[aeiou]', behavior, true), strings, `${behavior}, inverted`);
    }
    await comparePreTokenizer(
      {
        type: 'Sequence',
        pretokenizers: [
          { type: 'Digits', individual_digits: true },
          { type: 'Split', pattern: { String: ' ' }, behavior: 'MergedWithNext', invert: false },
        ],
      },
      strings,
      'Digits, literal',
    );
    await comparePreTokenizer({ type: 'Digits', individual_digits: false }, strings, 'Digits runs');
    for (const scheme of ['always', 'first', 'never']) {
      await comparePreTokenizer(
        {
          type: 'Sequence',
          pretokenizers: [
            split('\\p{P}', 'Isolated'),
            { type: 'Metaspace', replacement: '▁', prepend_scheme: scheme, split: true },
          ],
        },
        strings,
        `Metaspace ${scheme}`,
      );
    }
    await comparePreTokenizer(
      { type: 'Metaspace', replacement: '▁', add_prefix_space: true },
      strings,
      'Metaspace, written before prepend_scheme',
    );
  });

  it('encodes and decodes as Hugging Face with ByteLevel pre-tokenizers, GPT-2 pattern and prefix space, Digits and Split before ByteLevel', async () => {
    await compareVariant(qwen, { pre_tokenizer: byteLevel(false, true) }, 'ByteLevel with its pattern');
    await compareVariant(qwen, { pre_tokenizer: byteLevel(true, true) }, 'ByteLevel with prefix space');
    await compareVariant(
      llama3,
      { pre_tokenizer: byteLevel(true, true) },
      'ByteLevel with prefix space, ignore_merges',
    );
    await compareVariant(
      qwen,
      {
        pre_tokenizer: {
          type: 'Sequence',
          pretokenizers: [
            { type: 'Digits', individual_digits: false },
            split('\\s+', 'MergedWithNext'),
            byteLevel(false, false),
          ],
        },
      },
      'Digits, Split, ByteLevel',
    );
  });

  it('normalizes, matches added tokens with their flags and adds the template as Hugging Face does', async () => {
    const added = [
      ...(qwen.added_tokens as Json[]),
      {
        id: 151669,
        content: '<mask>',
        single_word: false,
        lstrip: true,
        rstrip: false,
        normalized: false,
        special: true,
      },
      {
        id: 151670,
        content: 'ing',
        single_word: true,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: false,
      },
      {
        id: 151671,
        content: ' world',
        single_word: false,
        lstrip: true,
        rstrip: true,
        normalized: false,
        special: false,
      },
      {
        id: 151672,
        content: 'Hello',
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: true,
        special: false,
      },
    ];
    const template = {
      type: 'Sequence',
      processors: [
        byteLevel(false, false),
        {
          type: 'TemplateProcessing',
          single: [
            { SpecialToken: { id: '<|im_start|>', type_id: 0 } },
            { Sequence: { id: 'A', type_id: 0 } },
            { SpecialToken: { id: '<|im_end|>', type_id: 0 } },
          ],
          pair: [{ Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
          special_tokens: {
            '<|im_start|>': { id: '<|im_start|>', ids: [151644], tokens: ['<|im_start|>'] },
            '<|im_end|>': { id: '<|im_end|>', ids: [151645], tokens: ['<|im_end|>'] },
          },
        },
      ],
    };
    const normalizer = {
      type: 'Sequence',
      normalizers: [
        { type: 'NFKD' },
        { type: 'StripAccents' },
        { type: 'Lowercase' },
        { type: 'Replace', pattern: { Regex: ' {2,}' }, content: ' ' },
        { type: 'Strip', strip_left: false, strip_right: true },
      ],
    };
    await compareVariant(
      qwen,
      { added_tokens: added, normalizer, post_processor: template },
      'normalizers, added tokens, template',
    );
    await compareVariant(
      qwen,
      {
        normalizer: {
          type: 'Sequence',
          normalizers: [
            { type: 'NFKC' },
            { type: 'Prepend', prepend: '>' },
            { type: 'Replace', pattern: { String: 'e' }, content: 'E' },
          ],
        },
      },
      'NFKC, Prepend, Replace',
    );
    const tok = JsonTokenizer.fromText(JSON.stringify({ ...qwen, post_processor: template }), 'template.json');
    assert.deepEqual(
      [tok.bosId, tok.eosId, tok.encode('', { bos: true, eos: false }), tok.encode('', { bos: false, eos: true })],
      [151644, 151645, [151644], [151645]],
    );
  });

  it('decodes with Metaspace and Strip decoders and encodes with a Metaspace pre-tokenizer as Hugging Face does', async () => {
    await compareVariant(
      llama2,
      {
        normalizer: null,
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
        // (Hugging Face's Strip panics when both ends of a token would be cut away, so one end at a time)
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'ByteFallback' },
            { type: 'Strip', content: 'a', start: 2, stop: 0 },
            { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true },
          ],
        },
      },
      'Metaspace always, split',
    );
    await compareVariant(
      llama2,
      {
        normalizer: null,
        pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'never', split: false },
        decoder: {
          type: 'Sequence',
          decoders: [
            { type: 'Strip', content: '▁', start: 0, stop: 1 },
            { type: 'Replace', pattern: { Regex: '▁+' }, content: '_' },
            { type: 'Metaspace', replacement: '_', prepend_scheme: 'never', split: false },
          ],
        },
      },
      'Metaspace never',
    );
  });
});

/** The smallest tokenizer.json: three letters and one merge. */
function tiny(parts: Json = {}, model: Json = {}): string {
  return JSON.stringify({
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      vocab: { a: 0, b: 1, ab: 2 },
      merges: ['a b'],
      ...model,
    },
    ...parts,
  });
}

describe('tokenizer.json errors', () => {
  it('names the file and the key of what it cannot use, in one line', () => {
    const cases: [string, RegExp][] = [
      ['{"model": ', /^Error: t\.json: not valid JSON \(/],
      ['[1, 2]', /^Error: t\.json: the top level: expected a JSON object \(a Hugging Face tokenizer\.json\)$/],
      [
        tiny({}, { type: 'WordPiece' }),
        /^Error: t\.json: model\.type: only BPE models are supported; this one is "WordPiece"$/,
      ],
      [
        tiny({ pre_tokenizer: { type: 'BertPreTokenizer' } }),
        /^Error: t\.json: pre_tokenizer\.type: "BertPreTokenizer" is not supported \(supported: Sequence, Split, ByteLevel, Metaspace, Digits\)$/,
      ],
      [
        tiny({ pre_tokenizer: { type: 'Sequence', pretokenizers: [split('a++', 'Isolated')] } }),
        /^Error: t\.json: pre_tokenizer\.pretokenizers\[0\]\.pattern\.Regex: regex "a\+\+": a possessive quantifier at offset 1 is not supported$/,
      ],
      [
        tiny({ normalizer: { type: 'Precompiled', precompiled_charsmap: '' } }),
        /^Error: t\.json: normalizer\.type: "Precompiled" is not supported/,
      ],
      [tiny({}, { merges: ['a b', 'b c'] }), /^Error: t\.json: model\.merges\[1\]: "c" is not in the vocabulary$/],
      [
        tiny({}, { merges: ['a b c'] }),
        /^Error: t\.json: model\.merges\[0\]: expected "left right" or \["left", "right"\]$/,
      ],
      [tiny({}, { vocab: { a: 0, b: 0 } }), /^Error: t\.json: model\.vocab\.b: id 0 is also "a"$/],
      [
        tiny({}, { dropout: 0.1 }),
        /^Error: t\.json: model\.dropout: BPE dropout is random and only for training; it is not supported$/,
      ],
      [tiny({}, { unk_token: '<unk>' }), /^Error: t\.json: model\.unk_token: "<unk>" is not in the vocabulary$/],
      [
        tiny({
          post_processor: {
            type: 'TemplateProcessing',
            single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
            special_tokens: {},
          },
        }),
        /^Error: t\.json: post_processor\.single\[0\]\.SpecialToken\.id: "<s>" is not in post_processor\.special_tokens$/,
      ],
    ];
    for (const [json, message] of cases)
      assert.throws(() => JsonTokenizer.fromText(json, 't.json'), message, json.slice(0, 60));
    assert.throws(
      () => JsonTokenizer.fromText(tiny(), 't.json', '{"bos_token": {"content": "<s>"}}', 'dir/tokenizer_config.json'),
      /^Error: dir\/tokenizer_config\.json: bos_token: "<s>" is not in t\.json$/,
    );
    const tok = JsonTokenizer.fromText(tiny(), 't.json');
    assert.deepEqual(tok.encode('abba'), [2, 1, 0]);
    assert.throws(() => tok.decode([3]), /^Error: id 3 is out of range \[0, 3\)$/);
  });
});
