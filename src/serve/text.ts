/**
 * The text of generated tokens as it grows, for streaming. Each step decodes only the tokens
 * since the last text handed out, behind the tokens of the text before them (so SentencePiece's
 * leading space comes out as run_mindformer predict prints it): the work is linear in the output.
 * Tokens whose text ends in U+FFFD (half a UTF-8 character) wait for the rest of the character.
 * The completion is the text of the new ids alone: bytes of a character the prompt began are not
 * joined to it. Text that could still become a stop string is held back until it cannot; a stop
 * string ends the text just before it.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';

/** How many prompt tokens at most stand for the prompt before the first new token. */
const PROMPT_CONTEXT = 8;
/** A UTF-8 character has at most 4 bytes, so an unfinished one lies in the last 3 tokens. */
const UNFINISHED_TAIL = 3;
/** Held tokens beyond which the text before the last UNFINISHED_TAIL tokens goes out even if it ends in U+FFFD (invalid bytes). */
const MAX_HELD = 8;

const REPLACEMENT = '\uFFFD';

/** The growing completion text of one generation. */
export class CompletionText {
  /** the prompt context, then every new token */
  private readonly ids: number[];
  /** ids[prefixAt, readAt) decode to prefixText, the text just before what is still undecoded */
  private prefixAt = 0;
  private readAt: number;
  private prefixText: string;
  /** the completion text decoded so far, and how much of it was handed out */
  private text = '';
  private sent = 0;
  /** where in text a stop string has not been looked for yet, and the longest stop string's length */
  private searchFrom = 0;
  private readonly longestStop: number;
  /** whether a stop string was found (the text then ends before it) */
  stopped = false;

  /**
   * The prompt's last PROMPT_CONTEXT tokens stand for it, less any trailing tokens whose text ends
   * in U+FFFD (an unfinished character, whose bytes must not join the completion's).
   */
  constructor(
    private readonly tok: Tokenizer,
    prompt: readonly number[],
    private readonly stops: readonly string[],
  ) {
    const context = prompt.slice(-PROMPT_CONTEXT);
    let contextText = this.decode(context);
    while (context.length > 0 && contextText.endsWith(REPLACEMENT)) {
      context.pop();
      contextText = this.decode(context);
    }
    this.longestStop = Math.max(0, ...stops.map((s) => s.length));
    this.ids = context;
    this.readAt = context.length;
    this.prefixText = contextText;
  }

  /** Adds a token; returns the text that can be handed out now (maybe empty). */
  push(id: number): string {
    this.ids.push(id);
    const end = this.ids.length;
    const whole = this.decode(this.ids.slice(this.prefixAt));
    if (!whole.endsWith(REPLACEMENT)) this.advance(end, whole);
    else if (end - this.readAt > MAX_HELD) {
      const upTo = end - UNFINISHED_TAIL,
        part = this.decode(this.ids.slice(this.prefixAt, upTo));
      if (whole.startsWith(part)) this.advance(upTo, part);
    }
    if (this.stopped) return this.flush();
    // Hold back the longest tail that begins a stop string.
    let hold = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, this.text.length); n > hold; n--) {
        if (this.text.endsWith(stop.slice(0, n))) {
          hold = n;
          break;
        }
      }
    }
    return this.take(Math.max(this.sent, this.text.length - hold));
  }

  /** The rest of the text (at the end of the generation). */
  flush(): string {
    this.finish();
    return this.take(this.text.length);
  }

  /** The whole completion text (at the end of the generation). */
  get value(): string {
    this.finish();
    return this.text;
  }

  /** Decodes the tokens still held, whatever they end in. */
  private finish(): void {
    if (this.stopped || this.readAt === this.ids.length) return;
    const whole = this.decode(this.ids.slice(this.prefixAt));
    this.append(whole.slice(this.prefixText.length));
    this.readAt = this.ids.length;
  }

  /** Takes in the text of ids[readAt, upTo), given whole = the text of ids[prefixAt, upTo); waits where it does not extend prefixText. */
  private advance(upTo: number, whole: string): void {
    if (!whole.startsWith(this.prefixText)) return;
    this.append(whole.slice(this.prefixText.length));
    // The tokens just read become the prefix, unless their text alone is empty (a SentencePiece
    // piece after them would then lose its leading space): then the prefix grows instead.
    const read = this.decode(this.ids.slice(this.readAt, upTo));
    if (read !== '') {
      this.prefixAt = this.readAt;
      this.prefixText = read;
    } else this.prefixText = whole;
    this.readAt = upTo;
  }

  /** Appends to the text, cutting it before the first stop string. */
  private append(piece: string): void {
    this.text += piece;
    let end = this.text.length;
    for (const stop of this.stops) {
      const at = this.text.indexOf(stop, this.searchFrom);
      if (at >= 0 && at < end) {
        end = at;
        this.stopped = true;
      }
    }
    if (this.stopped) this.text = this.text.slice(0, end);
    else this.searchFrom = Math.max(this.searchFrom, this.text.length - this.longestStop + 1);
  }

  private decode(ids: readonly number[]): string {
    return this.tok.decode(ids, { skipSpecialTokens: true });
  }

  private take(upTo: number): string {
    const out = this.text.slice(this.sent, upTo);
    this.sent = upTo;
    return out;
  }
}
