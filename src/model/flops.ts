/** FLOPs of the work the model does, for throughput in TFLOP/s and utilisation figures. */
import { headDim, type LlamaConfig } from './config.ts';
import { LINEARS, linearShape, type LinearKind } from './lora.ts';

/**
 * FLOPs of one training step over B×S tokens as LlamaModel runs it: every matrix product
 * forward, the input gradients (none below a frozen first layer), weight gradients in train
 * mode, LoRA's small products, and causal attention (2 products forward, 5 backward).
 */
export function stepFlops(
  c: LlamaConfig,
  B: number,
  S: number,
  o: { train: boolean; loraKinds: LinearKind[]; loraRank: number },
): number {
  const T = B * S,
    r = o.loraRank;
  let f = 0;
  for (const { kind } of LINEARS) {
    const [out, inp] = linearShape(c, kind);
    const mm = 2 * T * out * inp;
    const noInputGrad = !o.train && (kind === 'wq' || kind === 'wk' || kind === 'wv'); // layer 0 skips dX
    f += c.nLayers * mm * (o.train ? 3 : 2) - (noInputGrad ? mm : 0);
    if (o.loraKinds.includes(kind)) f += c.nLayers * 2 * T * r * (inp + out) * 3;
  }
  f += 2 * T * c.vocabSize * c.dim * (o.train ? 3 : 2);
  f += c.nLayers * 7 * 2 * B * c.nHeads * ((S * (S + 1)) / 2) * headDim(c);
  return f;
}
