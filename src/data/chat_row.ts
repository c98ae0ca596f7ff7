/**
 * One chat row's `input_ids` and `labels`: the rendered conversation tokenized as
 * apply_chat_template(tokenize=True) does (no special tokens added: the template writes them),
 * right-padded with 0 and cut to seq_length + 1 as qa rows are. Only the assistant's tokens
 * count, as TRL's assistant-only loss counts them: from where the turn starts (the tokens that
 * the text before it, tokenized alone, shares with the whole) through the end-of-turn token
 * that closes it; every other label is -100.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { IGNORE_INDEX } from './qa.ts';

/**
 * Writes the row of `text` into input_ids and labels (each seq_length + 1 long); `turns` are
 * renderChat's [start char, end-of-turn tokens inside the content] of each assistant turn.
 * Returns true when every label is masked.
 */
export function chatRow(
  tok: Tokenizer,
  text: string,
  turns: [number, number][],
  endOfTurnId: number,
  inputIds: Int32Array,
  labels: Int32Array,
): boolean {
  const length = inputIds.length;
  const ids = tok.encode(text, { bos: false, eos: false });
  inputIds.fill(0);
  inputIds.set(ids.length > length ? ids.slice(0, length) : ids);
  labels.fill(IGNORE_INDEX);
  for (const [startChar, inside] of turns) {
    const before = tok.encode(text.slice(0, startChar), { bos: false, eos: false });
    let start = 0;
    while (start < before.length && start < ids.length && before[start] === ids[start]) start++;
    let end = start;
    for (let seen = 0; end < ids.length; ) {
      if (ids[end++] === endOfTurnId && seen++ === inside) break;
    }
    for (let p = Math.max(start, 1); p < end && p < length; p++) labels[p] = ids[p];
  }
  return labels.every((x) => x === IGNORE_INDEX);
}
