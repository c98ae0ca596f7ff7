/**
 * The check every block-quantized matrix passes as it is stored: its f16 scales must be finite.
 * Generation's integer kernels read a block's scales as finite halves (assembly/simd.ts
 * halfHigh4, a third of the instructions of a conversion that keeps infinities and NaNs), so an
 * infinite or NaN scale would give a finite, wrong product; such a matrix is refused instead.
 */
import { BLOCK_SCALES_AT, GGML_TYPES, type BlockType } from '../checkpoint/gguf/format.ts';

/** Throws, naming the block and its scale's bits, unless every scale of `blocks` (whole blocks of `type`) is finite. */
export function checkBlockScales(blocks: Uint8Array, type: BlockType): void {
  const { bytes } = GGML_TYPES[type];
  for (let at = 0; at < blocks.length; at += bytes)
    for (const o of BLOCK_SCALES_AT[type]) {
      const hi = blocks[at + o + 1];
      // exponent bits all set: infinity or NaN
      if ((hi & 0x7c) === 0x7c) {
        const bits = (hi << 8) | blocks[at + o];
        throw new Error(
          `${type} block ${at / bytes} has an infinite or NaN scale (f16 0x${bits.toString(16).padStart(4, '0')})`,
        );
      }
    }
}
