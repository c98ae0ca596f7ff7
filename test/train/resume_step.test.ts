/**
 * The step the ranks of a job resume from, given what each holds (state.ts resumeStep): the
 * newest step all hold; a named checkpoint's step if every rank holds it; the start only when
 * the job was stopped in its first save; otherwise one line naming each rank's steps.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { resumeStep } from '../../src/train/state.ts';

const held = (...steps: number[][]) => steps.map((s) => ({ steps: s, named: null }));

describe('resumeStep', () => {
  it('takes the newest step every rank holds', () => {
    assert.equal(resumeStep(held([5, 10], [5]), true, 5), 5);
    assert.equal(resumeStep(held([3, 4], [3, 4], [2, 3]), true, 1), 3);
    assert.equal(resumeStep(held([7]), true, 1), 7);
  });

  it('starts over when the job was stopped during its first save, and refuses ranks that share no later step', () => {
    assert.equal(resumeStep(held([5], []), true, 5), 0);
    assert.throws(() => resumeStep(held([10], [5]), true, 5), {
      message: /^--resume_training: no step has a checkpoint on every rank \(rank 0: step 10; rank 1: step 5\)/,
    });
    assert.throws(() => resumeStep(held([6, 7], []), true, 5), { message: /\(rank 0: steps 6, 7; rank 1: none\)/ });
    assert.throws(() => resumeStep(held([], []), true, 5), {
      message: /^--resume_training: there is no checkpoint to resume from$/,
    });
  });

  it("takes a named checkpoint's step when every rank holds that step, whichever ranks found the name", () => {
    assert.equal(
      resumeStep(
        [
          { steps: [4, 8], named: 4 },
          { steps: [4, 8], named: null },
        ],
        'x_rank_0-1_4.safetensors',
        1,
      ),
      4,
    );
    assert.throws(
      () =>
        resumeStep(
          [
            { steps: [4, 8], named: 8 },
            { steps: [4], named: null },
          ],
          'f',
          1,
        ),
      {
        message:
          /^--resume_training f: global step 8 has no checkpoint on every rank \(rank 0: steps 4, 8; rank 1: step 4\)$/,
      },
    );
    assert.throws(() => resumeStep(held([4], [4]), 'nowhere', 1), {
      message:
        /^--resume_training nowhere: no such checkpoint \(not a path, nor a file in the rank's checkpoint folder\)$/,
    });
  });
});
