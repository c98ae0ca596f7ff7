/**
 * A tokenizer whose `bos`/`eos` options add exactly its BOS and EOS ids around the text, as
 * MindFormers' LlamaTokenizer does with add_bos_token and add_eos_token, whatever the file's own
 * post-processor would add. `llama_preprocess` tokenizes through it, so that a `tokenizer.json`
 * gives rows shaped as a `tokenizer.model` does.
 */
import { LlamaTokenizer } from './llama.ts';
import type { DecodeIdsOptions, SpecialIds, Tokenizer } from './tokenizer.ts';

class WithBosEos implements Tokenizer {
  constructor(private readonly inner: Tokenizer) {}

  get vocabSize(): number {
    return this.inner.vocabSize;
  }
  get bosId(): number {
    return this.inner.bosId;
  }
  get eosId(): number {
    return this.inner.eosId;
  }
  get padId(): number {
    return this.inner.padId;
  }
  get unkId(): number {
    return this.inner.unkId;
  }

  encode(text: string, add: SpecialIds = {}): number[] {
    const out: number[] = [];
    this.encodeTo(text, out, add);
    return out;
  }

  encodeTo(text: string, out: number[], { bos = true, eos = true }: SpecialIds = {}): void {
    if (bos) out.push(this.inner.bosId);
    this.inner.encodeTo(text, out, { bos: false, eos: false });
    if (eos) out.push(this.inner.eosId);
  }

  decode(ids: ArrayLike<number>, options?: DecodeIdsOptions): string {
    return this.inner.decode(ids, options);
  }
  idToToken(id: number): string | null {
    return this.inner.idToToken(id);
  }
  tokenToId(token: string): number {
    return this.inner.tokenToId(token);
  }
}

/**
 * `tok` with bos/eos meaning its BOS and EOS ids (a LlamaTokenizer already works so); throws,
 * naming `source`, when it lacks either.
 */
export function withBosEos(tok: Tokenizer, source: string): Tokenizer {
  if (tok instanceof LlamaTokenizer) return tok;
  const missing = [tok.bosId < 0 ? 'BOS' : '', tok.eosId < 0 ? 'EOS' : ''].filter(Boolean);
  if (missing.length > 0)
    throw new Error(
      `${source}: has no ${missing.join(' or ')} token (a tokenizer.json takes them from the tokenizer_config.json beside it, else from its post-processor's template)`,
    );
  return new WithBosEos(tok);
}
