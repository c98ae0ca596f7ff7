/**
 * Chat prompts for `serve`: the messages rendered by the model's chat template (the
 * tokenizer_config.json beside its tokenizer) with the generation prompt, and its end-of-turn
 * token as a stop id; a model without one gets the Vicuna v1.1 conversation of SPEC.md (the
 * template the seed fine-tunes on), with a system message in place of its system text.
 */
import { renderConversation, VICUNA_SYSTEM } from '../data/conversation.ts';
import { endOfTurnId, type ChatMessage, type ChatTemplate } from '../tokenizer/chat_template.ts';
import type { Tokenizer } from '../tokenizer/tokenizer.ts';
import { ApiError } from './openai.ts';

/** How a served model turns messages into a prompt. */
export interface ChatFormat {
  /** the prompt ids of a conversation, ready for the assistant's answer */
  promptIds(messages: ChatMessage[]): number[];
  /** ids that end the assistant's turn */
  stopIds: number[];
  /** what it is, for the startup line */
  describe: string;
}

/** The chat format of a tokenizer: its template, or (`template` a string: why there is none) the Vicuna v1.1 conversation. */
export function chatFormat(tok: Tokenizer, template: ChatTemplate | string): ChatFormat {
  if (typeof template !== 'string') {
    return {
      promptIds: (messages) => tok.encode(template.render(messages, true), { bos: false, eos: false }),
      stopIds: [endOfTurnId(template, tok)],
      describe: `the chat template of ${template.source}`,
    };
  }
  return {
    promptIds: (messages) => tok.encode(vicunaPrompt(messages), { bos: true, eos: false }),
    stopIds: [],
    describe: 'the Vicuna v1.1 conversation (the tokenizer has no chat template)',
  };
}

/** The Vicuna v1.1 text of a conversation ending with the assistant's empty turn; a system message leads and replaces the system text. */
function vicunaPrompt(messages: ChatMessage[]): string {
  const system = messages[0].role === 'system' ? messages[0].content : VICUNA_SYSTEM;
  const turns = messages.slice(messages[0].role === 'system' ? 1 : 0).map((m, i) => {
    if (m.role === 'system')
      throw new ApiError(400, `messages[${i + 1}]: a system message may only come first`, 'messages');
    return { from: m.role === 'user' ? 'human' : 'gpt', value: m.content };
  });
  if (turns.at(-1)?.from !== 'human')
    throw new ApiError(400, 'messages: the conversation must end with a user message', 'messages');
  let text: string;
  try {
    text = renderConversation({ conversations: [...turns, { from: 'gpt', value: '' }] }, 0, 'messages');
  } catch (err) {
    throw new ApiError(400, (err as Error).message.replace('messages: record 1: ', 'messages: '), 'messages');
  }
  return system + text.slice(VICUNA_SYSTEM.length);
}
