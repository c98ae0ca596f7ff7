/**
 * The library's finetune in Node, Deno and Bun: the portable one (src/api/finetune.ts) over a
 * llama_preprocess shard folder as well (opened, its shards verified, closed when done), and an
 * adapter that saves itself as a PEFT folder.
 */
import { saveAdapter } from '../checkpoint/peft.ts';
import { ShardDataset } from '../data/shard_reader.ts';
import {
  finetune as finetuneRecords,
  finetunedLora,
  type FinetuneOptions as PortableFinetuneOptions,
  type TrainedAdapter as PortableTrainedAdapter,
} from './finetune.ts';
import type { FinetuneRecord } from './records.ts';

/** What to fine-tune on what. */
export interface FinetuneOptions extends Omit<PortableFinetuneOptions, 'dataset'> {
  /** a llama_preprocess shard folder, an opened ShardDataset, or records in memory */
  dataset: string | ShardDataset | readonly FinetuneRecord[];
}

/** The LoRA factors a fine-tune trained (they live in the model, which now uses them). */
export interface TrainedAdapter extends PortableTrainedAdapter {
  /**
   * Writes the adapter as a new PEFT folder (adapter_config.json, adapter_model.safetensors: the
   * bytes of toFiles()), which `Llama.fromPretrained(base, { adapter: dir })` loads back.
   */
  save(dir: string): Promise<void>;
}

/**
 * Fine-tunes the model's LoRA factors on `dataset` and returns the adapter.
 * @example
 * const llama = await Llama.fromPretrained('models/tiny-llama', { loraConfig: { rank: 8, alpha: 16, dropout: 0, targetModules: ['wq', 'wv'] } });
 * const records = [{ instruction: 'Name a colour.', output: 'Blue.' }, { instruction: 'Name a fruit.', output: 'A pear.' }];
 * const adapter = await finetune({ model: llama, dataset: records, config: { epochs: 3, learningRate: 1e-3 }, onStep: (p) => console.log(p.step, p.loss) });
 * await adapter.save('out/adapter');
 */
export async function finetune(options: FinetuneOptions): Promise<TrainedAdapter> {
  const llama = options.model;
  finetunedLora(llama); // a model without LoRA is refused before a shard folder is read
  const opened =
    typeof options.dataset === 'string'
      ? ShardDataset.open(options.dataset, { vocabSize: llama.config.vocabSize })
      : undefined;
  const dataset = opened ?? (options.dataset as ShardDataset | readonly FinetuneRecord[]);
  try {
    if (dataset instanceof ShardDataset) dataset.checkTrainable();
    const adapter = await finetuneRecords({ ...options, dataset });
    const base = llama.source === 'bytes' ? null : llama.source;
    return { ...adapter, save: (dir) => saveAdapter(dir, llama.model.weights, base) };
  } finally {
    opened?.close();
  }
}
