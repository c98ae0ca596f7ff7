/**
 * The conversation records `alpaca_converter` writes and `llama_preprocess --dataset_type qa`
 * reads, and their rendering with FastChat's Vicuna v1.1 template as MindFormers does it:
 * `system + " " + "USER: " + q1 + " " + "ASSISTANT: " + a1 + "</s>" + "USER: " + q2 + ...`.
 */

/** One turn: `from` is "human" or "gpt". */
export interface Turn {
  from: string;
  value: string;
}

/** One record of a conversation file. */
export interface ConversationRecord {
  id?: unknown;
  conversations: Turn[];
}

/** The Vicuna v1.1 system text. */
export const VICUNA_SYSTEM =
  'A chat between a curious user and an artificial intelligence assistant. ' +
  "The assistant gives helpful, detailed, and polite answers to the user's questions.";

/** What follows each user turn and each assistant turn. */
export const USER_SEP = ' ';
export const ASSISTANT_SEP = '</s>';

const ROLES: Record<string, string> = { human: 'USER', gpt: 'ASSISTANT' };
const ORDER = ['USER', 'ASSISTANT'];

/** `record 3 (id "3")`: how errors name the record at 0-based position `index`. */
export function recordName(record: unknown, index: number): string {
  const id =
    record !== null && typeof record === 'object' && 'id' in record ? (record as { id: unknown }).id : undefined;
  return `record ${index + 1}${typeof id === 'string' || typeof id === 'number' ? ` (id ${JSON.stringify(id)})` : ''}`;
}

/**
 * The prompt text of one record. A first turn that is not from "human" is dropped; the rest must
 * alternate human, gpt, human, ... A turn with an empty message renders as its role and a colon.
 * Errors name the record (`where` is the file).
 */
export function renderConversation(record: unknown, index: number, where: string): string {
  const fail = (why: string): never => {
    throw new Error(`${where}: ${recordName(record, index)}: ${why}`);
  };
  if (record === null || typeof record !== 'object' || Array.isArray(record))
    fail('expected an object with "conversations"');
  const turns = (record as { conversations?: unknown }).conversations;
  if (!Array.isArray(turns)) fail('"conversations" must be an array of turns');
  const list = turns as unknown[];
  if (list.length === 0) fail('"conversations" is empty');
  list.forEach((turn, t) => {
    if (turn === null || typeof turn !== 'object') fail(`turn ${t + 1} is not an object`);
    const { from, value } = turn as { from?: unknown; value?: unknown };
    if (typeof from !== 'string' || !(from in ROLES))
      fail(`turn ${t + 1} has "from" ${JSON.stringify(from)}; expected "human" or "gpt"`);
    if (typeof value !== 'string') fail(`turn ${t + 1} has no string "value"`);
  });
  const typed = list as Turn[];
  const start = ROLES[typed[0].from] === ORDER[0] ? 0 : 1;
  let text = VICUNA_SYSTEM + USER_SEP;
  for (let t = start; t < typed.length; t++) {
    const j = t - start;
    const role = ROLES[typed[t].from];
    if (role !== ORDER[j % 2])
      fail(
        `roles do not alternate: turn ${t + 1} is from "${typed[t].from}" where "${j % 2 ? 'gpt' : 'human'}" was expected`,
      );
    const value = typed[t].value;
    text += value ? `${role}: ${value}${j % 2 ? ASSISTANT_SEP : USER_SEP}` : `${role}:`;
  }
  return text;
}
