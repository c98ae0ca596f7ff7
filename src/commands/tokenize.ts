/**
 * `wasmformers tokenize [--model_file M] [--special] [--bos] [--eos] [--decode]
 * [--write_json OUT [--legacy False]]`: reads one JSON string per line of stdin and prints its
 * ids as a JSON array per line. M is a `tokenizer.model`, a `tokenizer.json` or a model folder.
 * A `tokenizer.model` encodes as plain SentencePiece by default (special-token text is ordinary
 * text); `--special` uses the Llama tokenizer of `llama_preprocess`, which cuts out `<unk>`, `<s>`
 * and `</s>` as their ids; `--bos`/`--eos` add those ids. A `tokenizer.json` encodes as Hugging
 * Face's `encode(text, add_special_tokens=False)` (its added tokens are always matched);
 * `--bos` adds what its post-processor puts before the text and `--eos` what it puts after.
 * `--decode` reads JSON arrays of ids and prints JSON strings. `--write_json OUT` writes the
 * `tokenizer.json` Hugging Face's converter makes from the `tokenizer.model` instead.
 */
import { createInterface } from 'node:readline';
import { prepareNewOutput, writeFileAtomically } from '../io/atomic.ts';
import { loadTokenizer } from '../tokenizer/load.ts';
import { parseModel } from '../tokenizer/model.ts';
import { llamaTokenizerJson } from '../tokenizer/spm_to_json.ts';
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
    write_json: { kind: 'string' },
    legacy: { kind: 'boolean', default: true },
  });
  const loaded = await loadTokenizer(f.model_file === undefined ? undefined : String(f.model_file));
  if (f.write_json !== undefined) {
    if (loaded.files.format !== 'tokenizer.model')
      throw new Error(`--write_json needs a tokenizer.model; ${loaded.source} is a tokenizer.json already`);
    const output = String(f.write_json);
    prepareNewOutput(output, '--write_json');
    const json = llamaTokenizerJson(parseModel(loaded.files.model, loaded.source), loaded.source, {
      legacy: f.legacy === true,
    });
    await writeFileAtomically(output, JSON.stringify(json, null, 2));
    return 0;
  }
  const { tokenizer, sp } = loaded;
  const bos = f.bos === true,
    eos = f.eos === true;
  const encode = (text: string): number[] => {
    if (!sp || f.special) return tokenizer.encode(text, { bos, eos });
    const ids = sp.encode(text);
    if (bos && tokenizer.bosId >= 0) ids.unshift(tokenizer.bosId);
    if (eos && tokenizer.eosId >= 0) ids.push(tokenizer.eosId);
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
      throw new Error(
        `stdin line ${lineNumber}: not JSON (expected ${f.decode ? 'an array of ids' : 'a JSON string'})`,
      );
    }
    if (f.decode) {
      if (!Array.isArray(value) || !value.every((x) => Number.isInteger(x)))
        throw new Error(`stdin line ${lineNumber}: expected a JSON array of integer ids`);
      try {
        out += JSON.stringify(tokenizer.decode(value)) + '\n';
      } catch (err) {
        throw new Error(`stdin line ${lineNumber}: ${(err as Error).message}`);
      }
    } else {
      if (typeof value !== 'string') throw new Error(`stdin line ${lineNumber}: expected a JSON string`);
      out += JSON.stringify(encode(value)) + '\n';
    }
    if (lineNumber % BATCH_LINES === 0) {
      await writeOut(out);
      out = '';
    }
  }
  await writeOut(out);
  return 0;
}
