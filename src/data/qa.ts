/**
 * One qa record's `input_ids` and `labels`, as MindFormers' `llama_preprocess` computes them
 * (SPEC.md §3): the rendered conversation is cut at "</s>" into rounds; the ids are BOS then
 * `tok(round)` without its BOS for each round up to the first empty one, right-padded with 0 and
 * cut to seq_length + 1. Labels copy the ids and mask (-100) the first position, each round's
 * instruction (`len(tok(instruction + " ASSISTANT: ")) - 3` ids after the round's start) and
 * everything after the last round; a row whose rounds do not add up to its non-pad count (when it
 * fits) is masked entirely.
 */
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { ASSISTANT_SEP } from './conversation.ts';

/** The label of a position that does not count in the loss. */
export const IGNORE_INDEX = -100;

/** What splits a round into the instruction and the answer. */
const ANSWER_SEP = ' ASSISTANT: ';

/** Writes the row of `text` into input_ids and labels (each seq_length + 1 long); true when every label is masked. */
export function qaRow(tok: Tokenizer, text: string, inputIds: Int32Array, labels: Int32Array): boolean {
  const length = inputIds.length; // seq_length + 1
  const rounds = text.split(ASSISTANT_SEP);
  const bos = tok.bosId;
  const ids: number[] = [bos];
  const roundLengths: number[] = []; // len(tok(round)) - 1, for rounds before the first empty one
  for (const round of rounds) {
    if (round === '') break;
    const before = ids.length;
    tok.encodeTo(round, ids, { bos: false });
    roundLengths.push(ids.length - before);
  }
  // ids that are not the pad id 0; a literal <unk> is 0 too in SentencePiece vocabularies, while in
  // tokenizer.json ones 0 is often a real token ("!" in Llama 3) that must count
  const zeroIsPad = tok.unkId === 0;
  let total = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i] !== 0 || !zeroIsPad) total++;
  inputIds.fill(0);
  for (let i = 0; i < length && i < ids.length; i++) inputIds[i] = ids[i];
  labels.set(inputIds);

  // MindFormers masks the uncut row, then cuts it: positions past `length` do not matter
  const mask = (from: number, to: number) => labels.fill(IGNORE_INDEX, Math.min(from, length), Math.min(to, length));
  let cur = 1;
  mask(0, 1);
  for (let r = 0; r < roundLengths.length; r++) {
    const parts = rounds[r].split(ANSWER_SEP);
    if (parts.length !== 2) break;
    const instructionLength = tok.encode(parts[0] + ANSWER_SEP).length - 3;
    mask(cur, cur + instructionLength);
    cur += roundLengths[r];
  }
  mask(cur, length);
  if (cur < length && cur !== total) labels.fill(IGNORE_INDEX);
  return labels.every((x) => x === IGNORE_INDEX);
}
