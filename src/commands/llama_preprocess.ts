/**
 * `wasmformers llama_preprocess --dataset_type qa|chat|wiki --input_glob GLOB --output_file OUT
 * [--model_file tokenizer.model] [--seq_length 2048] [--file_partition 1] [--repeat 1]
 * [--workers N]`: tokenizes conversations (qa) or wikitext (wiki) exactly as MindFormers'
 * script does, or conversations rendered with the model's own chat template, counting only the
 * assistant's tokens (chat), into the dataset folder OUT (msgpack shards and index.json). Without
 * --model_file the Llama 2 tokenizer bundled with the package is used. Tokenizing runs on N
 * worker threads (default: one per CPU; 0 runs it on the main thread).
 */
import { availableParallelism } from 'node:os';
import { prepareNewOutput } from '../io/atomic.ts';
import { expandGlob } from '../data/glob.ts';
import { preprocess } from '../data/llama_preprocess.ts';
import { loadChatTemplate, loadTokenizer } from '../tokenizer/load.ts';
import { parseFlags } from './flags.ts';
import { ProgressBar } from './progress.ts';

/** Shown when rows come out with every label masked, by dataset type. */
const MASKED_CAUSES: Record<string, string> = {
  qa: 'an empty answer, "</s>" or " ASSISTANT: " inside a message, a conversation that ends on a user turn, or a literal "<unk>"',
  chat: 'a conversation without an assistant turn, or one whose first assistant turn starts past --seq_length',
};

/** Runs the command; prints the seed's two closing lines. */
export async function main(argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    dataset_type: { kind: 'string', default: 'wiki' },
    input_glob: { kind: 'string', required: true },
    output_file: { kind: 'string', required: true },
    model_file: { kind: 'string' },
    tokenizer: { kind: 'string', default: 'llama' },
    file_partition: { kind: 'number', default: 1 },
    repeat: { kind: 'number', default: 1 },
    seq_length: { kind: 'number', default: 2048 },
    workers: { kind: 'number', default: availableParallelism() },
  });
  const datasetType = String(f.dataset_type);
  if (datasetType !== 'qa' && datasetType !== 'chat' && datasetType !== 'wiki')
    throw new Error(`--dataset_type ${datasetType}: expected qa, chat or wiki`);
  if (f.tokenizer !== 'llama') throw new Error(`--tokenizer ${f.tokenizer}: only llama is supported`);
  const workers = Number(f.workers);
  if (!Number.isInteger(workers) || workers < 0) throw new Error(`--workers ${f.workers}: expected 0 or more`);
  const output = String(f.output_file);
  prepareNewOutput(output, '--output_file');
  const inputs = expandGlob(String(f.input_glob));
  if (inputs.length === 0) throw new Error(`--input_glob ${f.input_glob} matches no file`);
  const tokenizer = await loadTokenizer(f.model_file === undefined ? undefined : String(f.model_file));
  const chatTemplate = datasetType === 'chat' ? await loadChatTemplate(tokenizer) : undefined;

  const unit = datasetType === 'wiki' ? 'paragraphs' : 'records';
  let bar: ProgressBar | null = null;
  const summary = await preprocess({
    datasetType,
    inputs,
    output,
    tokenizer,
    chatTemplate,
    seqLength: Number(f.seq_length),
    partitions: Number(f.file_partition),
    repeat: Number(f.repeat),
    threads: workers,
    progress: (done, total) => (bar ??= new ProgressBar(total, unit)).update(done),
  }).finally(() => bar?.done());

  const masked = summary.maskedRows;
  if (masked.length > 0) {
    const some =
      masked
        .slice(0, 10)
        .map((i) => i + 1)
        .join(', ') + (masked.length > 10 ? ', ...' : '');
    console.error(
      `Warning: ${masked.length} of ${summary.records} rows have every label masked (records ${some}): ${MASKED_CAUSES[datasetType]}; they add nothing to the loss.`,
    );
  }
  console.log(`Transformed ${summary.records} records.`);
  console.log(`Transform finished, output files refer: ${output}`);
  return 0;
}
