/**
 * The check every block-quantized matrix passes as it is stored: its f16 scales must be finite.
 * Generation's integer kernels read a block's scales as finite halves (assembly/simd.ts
 * halfHigh4, a third of the instructions of a conversion that keeps infinities and NaNs), so an
 * infinite or NaN scale would give a finite, wrong product; such a matrix is refused instead.
 */
import { blockValues, WeightType, weightBytes } from '../runtime/kernels.ts';

/** Byte offsets of the f16 scales within one block: d (and Q4_K's and Q5_K's dmin; Q6_K's d is last). */
const SCALES_AT: Partial<Record<WeightType, readonly number[]>> = {
  [WeightType.Q8_0]: [0],
  [WeightType.Q4_0]: [0],
  [WeightType.Q5_0]: [0],
  [WeightType.Q4_K]: [0, 2],
  [WeightType.Q5_K]: [0, 2],
  [WeightType.Q6_K]: [208],
};

/** Throws, naming the block and its scale's bits, unless every scale of `blocks` (whole blocks of `wt`) is finite. */
export function checkBlockScales(blocks: Uint8Array, wt: WeightType): void {
  const at = SCALES_AT[wt];
  if (!at) throw new Error(`weight type ${WeightType[wt]} is not a block type`);
  const bytes = blockValues(wt) * weightBytes(wt);
  for (let b = 0; b * bytes < blocks.length; b++)
    for (const o of at) {
      const hi = blocks[b * bytes + o + 1];
      // exponent bits all set: infinity or NaN
      if ((hi & 0x7c) === 0x7c) {
        const bits = (hi << 8) | blocks[b * bytes + o];
        throw new Error(
          `${WeightType[wt]} block ${b} has an infinite or NaN scale (f16 0x${bits.toString(16).padStart(4, '0')}), which the kernels cannot compute with`,
        );
      }
    }
}
