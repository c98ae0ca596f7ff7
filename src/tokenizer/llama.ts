/**
 * The tokenizer MindFormers' `llama_preprocess` calls: Hugging Face's slow `LlamaTokenizer` in
 * legacy mode with `add_bos_token` and `add_eos_token`. `tok(text)` cuts text at the special
 * pieces' text (`<unk>`, `<s>`, `</s>`: leftmost first, longest at a tie), keeps each as its id
 * (no whitespace is stripped around them), encodes every piece of text between them on its own
 * with SentencePiece (so each gets its own dummy-prefix `▁`), then adds BOS and EOS.
 * `tok("a</s>b")` is [1, 263, 2, 289, 2].
 */
import type { SentencePieceProcessor } from './sentencepiece.ts';
import type { SpecialIds, Tokenizer } from './tokenizer.ts';

/** Text of a special piece and its id. */
interface Special {
  text: string;
  id: number;
}

/** SentencePiece plus Hugging Face's special-token handling; decoding leaves out the control pieces. */
export class LlamaTokenizer implements Tokenizer {
  private readonly specials: Special[];

  constructor(readonly sp: SentencePieceProcessor) {
    const v = sp.vocab;
    this.specials = [v.unkId, v.bosId, v.eosId].filter((id) => id >= 0).map((id) => ({ text: v.pieces[id], id }));
  }

  get vocabSize(): number {
    return this.sp.vocab.size;
  }
  get bosId(): number {
    return this.sp.vocab.bosId;
  }
  get eosId(): number {
    return this.sp.vocab.eosId;
  }
  get padId(): number {
    return this.sp.vocab.padId;
  }
  get unkId(): number {
    return this.sp.vocab.unkId;
  }

  /** `tok.decode(ids)` of SentencePiece: control pieces never show, so there is nothing more to skip. */
  decode(ids: ArrayLike<number>): string {
    return this.sp.decode(ids);
  }

  idToToken(id: number): string | null {
    return this.sp.vocab.pieces[id] ?? null;
  }

  tokenToId(token: string): number {
    const id = this.sp.vocab.pieceToId(token);
    return this.sp.vocab.pieces[id] === token ? id : -1;
  }

  /** `tok(text)['input_ids']`; BOS and EOS are added unless turned off. */
  encode(text: string, add: SpecialIds = {}): number[] {
    const out: number[] = [];
    this.encodeTo(text, out, add);
    return out;
  }

  /** Appends the ids of `tok(text)` to `out`. */
  encodeTo(text: string, out: number[], { bos = true, eos = true }: SpecialIds = {}): void {
    const v = this.sp.vocab;
    if (bos && v.bosId >= 0) out.push(v.bosId);
    let start = 0;
    for (;;) {
      const hit = this.findSpecial(text, start);
      if (!hit) break;
      if (hit.at > start) this.sp.encodeTo(text.slice(start, hit.at), out);
      out.push(hit.special.id);
      start = hit.at + hit.special.text.length;
    }
    if (start < text.length) this.sp.encodeTo(start === 0 ? text : text.slice(start), out);
    if (eos && v.eosId >= 0) out.push(v.eosId);
  }

  /** The leftmost special text at or after `from` (the longest if several start there). */
  private findSpecial(text: string, from: number): { at: number; special: Special } | null {
    let best: { at: number; special: Special } | null = null;
    for (const special of this.specials) {
      const at = text.indexOf(special.text, from);
      if (at < 0) continue;
      if (!best || at < best.at || (at === best.at && special.text.length > best.special.text.length))
        best = { at, special };
    }
    return best;
  }
}
