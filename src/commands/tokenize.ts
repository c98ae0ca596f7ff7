/**
 * `wasmformers tokenize [--model_file M] [--special] [--bos] [--eos] [--decode]`: reads one JSON
 * string per line of stdin and prints its ids as a JSON array per line. Plain SentencePiece by
 * default (special-token text is ordinary text); `--special` uses the Llama tokenizer of
 * `llama_preprocess`, which cuts out `<unk>`, `<s>` and `</s>` as their ids; `--bos`/`--eos` add
 * those ids. `--decode` reads JSON arrays of ids and prints JSON strings.
 */
import { createInterface } from 'node:readline';
import { LlamaTokenizer } from '../tokenizer/llama.ts';
import { loadTokenizer } from '../tokenizer/load.ts';
import { parseFlags } from './flags.ts';
import { writeOut } from './stdout.ts';

/** Output lines gathered before each write to stdout. */
const BATCH_LINES = 1000;


/** Runs the command over stdin; errors name the input line. */
export async function main(argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    model_file: { kind: 'string' },
    special: { kind: 'boolean', default: false },
    bos: { kind: 'boolean', default: false },
    eos: { kind: 'boolean', default: false },
    decode: { kind: 'boolean', default: false },
  });
  const { sp } = await loadTokenizer(f.model_file === undefined ? undefined : String(f.model_file));
  const llama = new LlamaTokenizer(sp);
  const bos = f.bos === true, eos = f.eos === true;
  const { bosId, eosId } = sp.vocab;
  const encode = (text: string): number[] => {
    if (f.special) return llama.encode(text, { bos, eos });
    const ids = sp.encode(text);
    if (bos && bosId >= 0) ids.unshift(bosId);
    if (eos && eosId >= 0) ids.push(eosId);
    return ids;
  };
  let lineNumber = 0;
  let out = '';
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Infinity })) {
    lineNumber++;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw new Error(`stdin line ${lineNumber}: not JSON (expected ${f.decode ? 'an array of ids' : 'a JSON string'})`);
    }
    if (f.decode) {
      if (!Array.isArray(value) || !value.every((x) => Number.isInteger(x))) throw new Error(`stdin line ${lineNumber}: expected a JSON array of integer ids`);
      try {
        out += JSON.stringify(sp.decode(value)) + '\n';
      } catch (err) {
        throw new Error(`stdin line ${lineNumber}: ${(err as Error).message}`);
      }
    } else {
      if (typeof value !== 'string') throw new Error(`stdin line ${lineNumber}: expected a JSON string`);
      out += JSON.stringify(encode(value)) + '\n';
    }
    if (lineNumber % BATCH_LINES === 0) { await writeOut(out); out = ''; }
  }
  await writeOut(out);
  return 0;
}
