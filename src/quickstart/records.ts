/**
 * The quick start's Alpaca records: splitting a user's data into training and held-out parts,
 * choosing the held-out prompts to generate from, and rendering them as the model saw its
 * training rows (Vicuna's system text, Alpaca's prompt, then `ASSISTANT:`), finding the answer
 * in what predict wrote, and telling whether it is exactly right.
 */
import { alpacaToConversations } from '../data/alpaca.ts';
import { renderConversation } from '../data/conversation.ts';
import { readJsonFile } from '../data/json_file.ts';

/** One Alpaca record (checked by alpacaToConversations). */
export interface AlpacaRecord {
  instruction: string;
  input?: string;
  output: string;
}

/** Reads and checks an Alpaca JSON file; errors name the file and record. */
export async function readAlpaca(path: string): Promise<AlpacaRecord[]> {
  const data = await readJsonFile(path);
  alpacaToConversations(data, path);
  return data as AlpacaRecord[];
}

/** The first records for training and the last `heldOut` (at most half of them) for evaluation. */
export function splitHeldOut(
  records: AlpacaRecord[],
  heldOut: number,
  where: string,
): { train: AlpacaRecord[]; heldOut: AlpacaRecord[] } {
  if (records.length < 2)
    throw new Error(`${where}: ${records.length} record(s); a training part and a held-out part need at least 2`);
  const n = Math.min(heldOut, Math.floor(records.length / 2));
  return { train: records.slice(0, records.length - n), heldOut: records.slice(records.length - n) };
}

/** `count` records spread evenly over the list (all of them when there are fewer). */
export function spread<T>(list: T[], count: number): T[] {
  if (count >= list.length) return [...list];
  return Array.from({ length: count }, (_, i) => list[Math.floor((i * list.length) / count)]);
}

/** The prompt text of a record, exactly as its training row begins: `... USER: <Alpaca prompt> ASSISTANT:`. */
export function chatPrompt(record: AlpacaRecord): string {
  const [conv] = alpacaToConversations([{ ...record, output: '' }], 'prompt');
  return renderConversation(conv, 0, 'prompt');
}

/** The user's message of a record, as the converter writes it (the Alpaca prompt): what a chat template renders. */
export function userMessage(record: AlpacaRecord): string {
  return alpacaToConversations([{ ...record, output: '' }], 'prompt')[0].conversations[0].value;
}

/** The answer in a generated text: what follows the prompt (which ends with `ASSISTANT:`), trimmed. */
export function answerOf(text: string, prompt: string): string {
  if (text.startsWith(prompt)) return text.slice(prompt.length).trim();
  // The decoded prompt may differ from the prompt in whitespace: cut after the marker that ends it.
  const marker = '### Response: ASSISTANT:',
    at = text.indexOf(marker);
  return (at < 0 ? text : text.slice(at + marker.length)).trim();
}

/**
 * Whether an answer is exactly right: what the model generated after the prompt (predict stops
 * at </s>), without the whitespace around it, is the record's output, without the whitespace
 * around it.
 */
export function isExactlyRight(answer: string, expected: string): boolean {
  return answer.trim() === expected.trim();
}
