/**
 * Stanford Alpaca records (`{instruction, input, output}`) to the conversation records
 * MindFormers' `alpaca_converter` writes: the prompt of Alpaca's training script as the human
 * turn, the output as the gpt turn, ids counting from "1".
 */
import { recordName, type ConversationRecord } from './conversation.ts';

/** The prompt for a record with a non-empty input. */
export function promptWithInput(instruction: string, input: string): string {
  return (
    'Below is an instruction that describes a task, paired with an input that provides further context. ' +
    `Write a response that appropriately completes the request.\n\n### Instruction:\n${instruction}\n\n### Input:\n${input}\n\n### Response:`
  );
}

/** The prompt for a record whose input is empty or missing. */
export function promptWithoutInput(instruction: string): string {
  return (
    'Below is an instruction that describes a task. ' +
    `Write a response that appropriately completes the request.\n\n### Instruction:\n${instruction}\n\n### Response:`
  );
}

/** Converts parsed Alpaca data; errors name `where` and the record. */
export function alpacaToConversations(data: unknown, where: string): ConversationRecord[] {
  if (!Array.isArray(data)) throw new Error(`${where}: expected a JSON array of {instruction, input, output} records`);
  return data.map((record: unknown, i) => {
    const fail = (why: string): never => {
      throw new Error(`${where}: ${recordName(record, i)}: ${why}`);
    };
    if (record === null || typeof record !== 'object' || Array.isArray(record))
      fail('expected an object with "instruction" and "output"');
    const { instruction, input, output } = record as Record<string, unknown>;
    if (instruction === undefined) fail('missing "instruction"');
    if (output === undefined) fail('missing "output"');
    if (typeof instruction !== 'string') fail('"instruction" must be a string');
    if (typeof output !== 'string') fail('"output" must be a string');
    if (input !== undefined && typeof input !== 'string') fail('"input" must be a string');
    const prompt = input
      ? promptWithInput(instruction as string, input as string)
      : promptWithoutInput(instruction as string);
    return {
      id: String(i + 1),
      conversations: [
        { from: 'human', value: prompt },
        { from: 'gpt', value: output as string },
      ],
    };
  });
}
