/**
 * Outputs on a read-only file system: each command that writes says so in one line naming the
 * folder (Node's recursive mkdir reports it as ENOENT, "no such file or directory"). The file
 * system is a read-only tmpfs mounted in a private mount namespace (`unshare -rm`), so the test
 * is skipped where unprivileged namespaces are not allowed.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALPACA_5000, scratchDir } from '../reference/oracles.ts';
import { ROOT, runCli } from '../fixtures.ts';

const dir = scratchDir();
const ro = join(dir, 'ro');
mkdirSync(ro);

/** Runs the CLI with `ro` mounted read-only in a mount namespace of its own. */
const onReadOnly = (args: string[]) =>
  runCli(args, { wrap: ['unshare', '-rm', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"', ro] });

const usable = spawnSync('unshare', ['-rm', 'sh', '-c', 'mount -t tmpfs -o ro tmpfs "$0"', ro]).status === 0;

describe('outputs on a read-only file system', () => {
  it('each writing command names the folder it cannot write in and the reason', {
    skip: !usable && 'unshare -rm cannot mount a tmpfs here',
  }, async () => {
    const conv = join(dir, 'conv.json');
    writeFileSync(
      conv,
      JSON.stringify([
        {
          id: '1',
          conversations: [
            { from: 'human', value: 'Hi' },
            { from: 'gpt', value: 'Hello' },
          ],
        },
      ]),
    );
    const cases: [string[], string][] = [
      [
        ['alpaca_converter', '--data_path', ALPACA_5000, '--output_path', join(ro, 'new/conv.json')],
        `alpaca_converter: cannot create folder ${ro}/new (EROFS: read-only file system)`,
      ],
      [
        ['alpaca_converter', '--data_path', ALPACA_5000, '--output_path', join(ro, 'conv.json')],
        `alpaca_converter: ${ro}/conv.json: cannot write in ${ro} (EROFS: read-only file system)`,
      ],
      [
        [
          'llama_preprocess',
          '--dataset_type',
          'qa',
          '--input_glob',
          conv,
          '--seq_length',
          '16',
          '--output_file',
          join(ro, 'a/b'),
        ],
        `llama_preprocess: cannot create folder ${ro}/a (EROFS: read-only file system)`,
      ],
      [
        [
          'run_mindformer',
          '--config',
          join(ROOT, 'configs/llama2/lora_tiny.yaml'),
          '--train_dataset_dir',
          dir,
          '--output_dir',
          join(ro, 'out'),
        ],
        `run_mindformer: cannot create folder ${ro}/out (EROFS: read-only file system)`,
      ],
    ];
    for (const [args, line] of cases) {
      const r = await onReadOnly(args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr, `${line}\n`);
    }
  });
});
