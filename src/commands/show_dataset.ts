/**
 * `wasmformers show_dataset DIR [--jsonl] [--verify]`: what a dataset folder written by
 * `llama_preprocess` holds (its index, summarized), or with `--jsonl` every record as one JSON
 * line with keys `input_ids` and `labels` (wiki records have `input_ids` only). `--verify` (and
 * `--jsonl`) first checks every shard against its sha256.
 */
import { ShardDataset } from '../data/shard_reader.ts';
import { parseFlags } from './flags.ts';
import { writeOut } from './stdout.ts';

/** Runs the command. */
export async function main(argv: string[]): Promise<number> {
  const [dir, ...rest] = argv;
  if (dir === undefined || dir.startsWith('--')) throw new Error('usage: show_dataset DIR [--jsonl] [--verify]');
  const f = parseFlags(rest, {
    jsonl: { kind: 'boolean', default: false },
    verify: { kind: 'boolean', default: false },
  });
  // Records are printed only from verified shards; the summary reads the index alone unless asked.
  const ds = ShardDataset.open(dir, { verify: f.verify === true || f.jsonl === true });
  try {
    if (f.jsonl) {
      const names = Object.keys(ds.index.columns);
      let out = '';
      for (let i = 0; i < ds.length; i++) {
        const record = ds.record(i);
        out += `{${names.map((n) => `${JSON.stringify(n)}:[${record[n].join(',')}]`).join(',')}}\n`;
        if (out.length > 1 << 20) {
          await writeOut(out);
          out = '';
        }
      }
      await writeOut(out);
      return 0;
    }
    const x = ds.index;
    const columns = Object.entries(x.columns)
      .map(([n, c]) => `${n} (${c.type} × ${c.shape[0]})`)
      .join(', ');
    const lines = [
      `dataset: ${dir} (${x.format} version ${x.version})`,
      `type: ${x.dataset_type}, seq_length ${x.seq_length}, ${x.records} records`,
      `columns: ${columns}`,
      ...(x.masked_rows !== undefined ? [`rows with every label masked: ${x.masked_rows}`] : []),
      `tokenizer: sha256 ${x.tokenizer.sha256} (${x.tokenizer.source})`,
      `sources: ${x.sources.join(', ')}`,
      `shards: ${x.shards.length} (${x.layout})`,
      ...x.shards.map((s) => `  ${s.file}  ${s.records} records  ${s.bytes} bytes  sha256 ${s.sha256}`),
      ...(f.verify ? ['checksums: all shards match'] : []),
    ];
    await writeOut(lines.join('\n') + '\n');
    return 0;
  } finally {
    ds.close();
  }
}
