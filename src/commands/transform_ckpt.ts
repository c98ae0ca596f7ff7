/**
 * `wasmformers transform_ckpt --src_checkpoint P [--dst_checkpoint_dir D] [--model_parallel N]
 * [--world_size W] [--prefix checkpoint_] [--save_format ckpt|safetensors] [--config C]`:
 * splits a whole checkpoint into the slices of N model-parallel ranks, or joins the rank
 * folders of a sliced one (N = 1), writing `D/<name>/rank_<i>/<prefix><i>.ckpt` for W ranks as
 * MindFormers' transform_ckpt does. The model-parallel layout replaces MindFormers' strategy
 * files (`--src_strategy`, `--dst_strategy`): the source's own is read from its shapes.
 */
import { join } from 'node:path';
import { readConfigFile } from '../checkpoint/config_file.ts';
import { transformCheckpoint } from '../checkpoint/transform.ts';
import { parseFlags } from './flags.ts';

/** Runs the command; see the file comment. */
export async function main(argv: string[]): Promise<number> {
  const f = parseFlags(argv, {
    src_checkpoint: { kind: 'string', required: true },
    dst_checkpoint_dir: { kind: 'string', default: join(process.cwd(), 'transformed_checkpoint') },
    model_parallel: { kind: 'number', default: 1 },
    world_size: { kind: 'number' },
    prefix: { kind: 'string', default: 'checkpoint_' },
    save_format: { kind: 'string', default: 'ckpt' },
    config: { kind: 'string' },
  });
  const format = String(f.save_format);
  if (format !== 'ckpt' && format !== 'safetensors')
    throw new Error(`--save_format takes ckpt or safetensors, got '${format}'`);
  const mp = Number(f.model_parallel);
  const out = await transformCheckpoint({
    src: String(f.src_checkpoint),
    dstDir: String(f.dst_checkpoint_dir),
    modelParallel: mp,
    worldSize: f.world_size === undefined ? mp : Number(f.world_size),
    prefix: String(f.prefix),
    format,
    config: f.config === undefined ? undefined : readConfigFile(String(f.config)).config,
  });
  console.log('.........Transform succeed!.........');
  console.log(`The transformed checkpoint was saved to ${out}`);
  return 0;
}
