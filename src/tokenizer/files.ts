/**
 * A tokenizer as the bytes of its files: what the loader read and what worker threads receive
 * to build their own copy (no file system needed, so it also works in browsers).
 */
import { JsonTokenizer } from './json/tokenizer.ts';
import { LlamaTokenizer } from './llama.ts';
import { SentencePieceProcessor } from './sentencepiece.ts';
import type { Tokenizer } from './tokenizer.ts';

/** A SentencePiece `tokenizer.model`, or a Hugging Face `tokenizer.json` with its `tokenizer_config.json` if any. */
export type TokenizerFiles =
  | { format: 'tokenizer.model'; model: Uint8Array }
  | { format: 'tokenizer.json'; json: Uint8Array; config: Uint8Array | null };

const utf8 = new TextDecoder('utf-8', { ignoreBOM: false });

/**
 * Builds the tokenizer of the files; `source` (the tokenizer file's path) names it in errors.
 * A tokenizer.model becomes Hugging Face's slow LlamaTokenizer over it.
 */
export function tokenizerFromFiles(
  files: TokenizerFiles & { format: 'tokenizer.model' },
  source: string,
): LlamaTokenizer;
export function tokenizerFromFiles(files: TokenizerFiles, source: string): Tokenizer;
export function tokenizerFromFiles(files: TokenizerFiles, source: string): Tokenizer {
  if (files.format === 'tokenizer.model')
    return new LlamaTokenizer(SentencePieceProcessor.fromBytes(files.model, source));
  const configSource = source.replace(/[^/\\]*$/, 'tokenizer_config.json');
  return JsonTokenizer.fromText(
    utf8.decode(files.json),
    source,
    files.config ? utf8.decode(files.config) : null,
    configSource,
  );
}
