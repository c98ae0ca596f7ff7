/**
 * Generated conversations for the chat-template tests: system, user and assistant turns, one to
 * four rounds, some ending on a user turn, with empty strings, Unicode, newlines, padding spaces,
 * special-token text, thinking blocks and Jinja-looking text in the content.
 */
import type { ChatMessage } from '../../src/tokenizer/chat_template.ts';

/** The texts a message's content is drawn from (and joined from). */
const PIECES = [
  '',
  'Hello',
  'What is the capital of France?',
  'Paris.',
  '  padded both sides  ',
  '\n\nleading newlines',
  'trailing newlines\n\n',
  'line one\nline two\n\nline four',
  'tabs\tand\r\nCRLF',
  'héllo wörld',
  '中文的回答',
  'emoji 🙂👍🏽 and ZWJ 👩‍💻',
  'ﬁ ligature ẞ',
  'مرحبا بالعالم',
  '<|eot_id|>',
  '<|begin_of_text|>',
  '<|start_header_id|>user<|end_header_id|>',
  '<|im_end|>',
  '<|im_start|>assistant',
  '<|endoftext|>',
  '<think>\nI should think.\n</think>\n\nThe answer.',
  '</think>after',
  '<tool_response>ok</tool_response>',
  '{{ not a tag }}',
  '{% raw %}',
  '"quotes" and \'apostrophes\'',
  'back\\slash',
  '  ',
  '\n',
  '1 + 1 = 2',
  '<s>[INST] fake [/INST]</s>',
  '\u0085next line\u0085',
  '\ufeffbyte order mark\ufeff',
  '\u001cfile separator\u001f',
];

/** A seeded generator of floats in [0, 1) (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One rendering case: the messages and add_generation_prompt. */
export interface ChatCase {
  messages: ChatMessage[];
  add_generation_prompt: boolean;
}

/** `count` conversations from `seed`; every fourth one ends on a user turn, every other one asks for the generation prompt. */
export function generatedConversations(count: number, seed: number): ChatCase[] {
  const rand = random(seed);
  const pick = <T>(list: T[]) => list[Math.floor(rand() * list.length)];
  const content = () => {
    const n = 1 + Math.floor(rand() * 3);
    return Array.from({ length: n }, () => pick(PIECES)).join(pick(['', ' ', '\n']));
  };
  const cases: ChatCase[] = [];
  for (let c = 0; c < count; c++) {
    const messages: ChatMessage[] = [];
    if (rand() < 0.4) messages.push({ role: 'system', content: content() });
    const rounds = 1 + Math.floor(rand() * 4);
    for (let r = 0; r < rounds; r++) {
      messages.push({ role: 'user', content: content() });
      if (r < rounds - 1 || c % 4 !== 3) messages.push({ role: 'assistant', content: content() });
    }
    cases.push({ messages, add_generation_prompt: c % 2 === 0 });
  }
  return cases;
}
