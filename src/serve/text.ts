/**
 * The text of generated tokens as it grows, for streaming: each new token's text is what decoding
 * the end of the prompt and every token so far adds to the text before it (so SentencePiece's
 * leading space and multi-token characters come out as run_mindformer predict prints them). Text that could
 * still become a stop string, or that ends in half a character, is held back until it cannot;
 * a stop string ends the text just before it.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';

const PROMPT_CONTEXT = 8;

/** The growing completion text of one generation. */
export class CompletionText {
  private readonly ids: number[];
  private readonly promptText: string;
  /** the completion text so far, and how much of it was handed out */
  private text = '';
  private sent = 0;
  /** whether a stop string was found (the text then ends before it) */
  stopped = false;

  /** The prompt's last PROMPT_CONTEXT tokens stand for it: enough for the text that follows them, and each new token costs no decode of a long prompt. */
  constructor(
    private readonly tok: Tokenizer,
    prompt: readonly number[],
    private readonly stops: readonly string[],
  ) {
    this.ids = prompt.slice(-PROMPT_CONTEXT);
    this.promptText = tok.decode(this.ids, { skipSpecialTokens: true });
  }

  /** Adds a token; returns the text that can be handed out now (maybe empty). */
  push(id: number): string {
    this.ids.push(id);
    const whole = this.tok.decode(this.ids, { skipSpecialTokens: true });
    this.text = whole.startsWith(this.promptText) ? whole.slice(this.promptText.length) : whole;
    let end = this.text.length;
    for (const stop of this.stops) {
      const at = this.text.indexOf(stop);
      if (at >= 0 && at < end) {
        end = at;
        this.stopped = true;
      }
    }
    if (this.stopped) {
      this.text = this.text.slice(0, end);
      return this.flush();
    }
    // Hold back trailing replacement characters (part of a UTF-8 sequence) and the longest tail that begins a stop string.
    while (end > this.sent && this.text[end - 1] === '\uFFFD') end--;
    let hold = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, end); n > hold; n--) {
        if (this.text.endsWith(stop.slice(0, n), end)) {
          hold = n;
          break;
        }
      }
    }
    return this.take(Math.max(this.sent, end - hold));
  }

  /** The rest of the text (at the end of the generation). */
  flush(): string {
    return this.take(this.text.length);
  }

  /** The whole completion text. */
  get value(): string {
    return this.text;
  }

  private take(upTo: number): string {
    const out = this.text.slice(this.sent, upTo);
    this.sent = upTo;
    return out;
  }
}
