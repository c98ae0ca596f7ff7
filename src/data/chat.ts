/**
 * `llama_preprocess --dataset_type chat`, on the main thread: each record of the converter's
 * conversation file becomes messages, rendered whole with the model's chat template, with where
 * each assistant turn starts in the text. A turn starts where the rendering of the messages
 * before it with the generation prompt ends; that rendering must be the start of the whole one
 * (else the template cannot tell the assistant's text apart, and the record is refused).
 */
import type { ChatMessage, ChatTemplate } from '../tokenizer/chat_template.ts';
import { recordName } from './conversation.ts';

/** What a turn's `from` becomes: the converter's names and the chat roles themselves. */
const ROLES: Record<string, string> = {
  human: 'user',
  user: 'user',
  gpt: 'assistant',
  assistant: 'assistant',
  system: 'system',
};

/** A rendered conversation: its text and, for each assistant turn, [start char, end-of-turn tokens inside its content]. */
export interface RenderedChat {
  text: string;
  turns: [number, number][];
}

/** The messages of one record (`{conversations: [{from, value}]}`); errors name the file (`where`) and record. */
export function chatMessages(record: unknown, index: number, where: string): ChatMessage[] {
  const fail = (why: string): never => {
    throw new Error(`${where}: ${recordName(record, index)}: ${why}`);
  };
  if (record === null || typeof record !== 'object' || Array.isArray(record))
    fail('expected an object with "conversations"');
  const turns = (record as { conversations?: unknown }).conversations;
  if (!Array.isArray(turns) || turns.length === 0) fail('"conversations" must be a non-empty array of turns');
  return (turns as unknown[]).map((turn, t) => {
    if (turn === null || typeof turn !== 'object') fail(`turn ${t + 1} is not an object`);
    const { from, value } = turn as { from?: unknown; value?: unknown };
    if (typeof from !== 'string' || !Object.hasOwn(ROLES, from))
      fail(`turn ${t + 1} has "from" ${JSON.stringify(from)}; expected "human", "gpt" or "system"`);
    if (typeof value !== 'string') fail(`turn ${t + 1} has no string "value"`);
    return { role: ROLES[from as string], content: value as string };
  });
}

/**
 * The record rendered with `template`, and where its assistant turns start; `endOfTurn` is the
 * end-of-turn token's text (how often it appears inside a content is kept, so that the token
 * that closes the turn is the right one). Errors name the file and record.
 */
export function renderChat(
  template: ChatTemplate,
  messages: ChatMessage[],
  endOfTurn: string,
  where: string,
): RenderedChat {
  const text = template.render(messages, false);
  const turns: [number, number][] = [];
  messages.forEach((message, i) => {
    if (message.role !== 'assistant') return;
    const before = template.render(messages.slice(0, i), true);
    if (!text.startsWith(before)) {
      throw new Error(
        `${where}: turn ${i + 1}: the chat template does not render the turns before this assistant turn (with the generation prompt) as the start of the whole conversation, so the assistant's tokens cannot be found`,
      );
    }
    turns.push([before.length, message.content.split(endOfTurn).length - 1]);
  });
  return { text, turns };
}
