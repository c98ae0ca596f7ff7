/** A batch for the model's explicit low-level steps (LlamaModel.forward and forwardBackward). */

/** Token rows and what to do with them; see LlamaModel.forward. */
export interface Batch {
  /** [batchSize, seqLength + 1] ids: each row's positions 0..S−1 are the input, 1..S the targets */
  inputIds: Int32Array;
  /** [batchSize, seqLength + 1] targets where they differ from inputIds (-100: not counted); default: inputIds */
  labels?: Int32Array | null;
  /** rows in the batch */
  batchSize: number;
  /** positions per row (default inputIds.length / batchSize − 1) */
  seqLength?: number;
  /** [batchSize·seqLength, vocab]: filled with the logits when given */
  logits?: Float32Array;
  /** divide the summed loss by this many counted positions (data-parallel ranks: all of theirs) rather than this batch's */
  lossTokens?: number;
  /** names the batch in error messages ("train.jsonl record 12") */
  where?: string;
}

/** The batch's rows and positions [B, S]; throws naming it when inputIds is not B rows of S + 1 ids. */
export function batchShape(batch: Batch): { B: number; S: number } {
  const B = batch.batchSize,
    n = batch.inputIds.length;
  const S = batch.seqLength ?? n / B - 1;
  if (!Number.isInteger(B) || B < 1 || !Number.isInteger(S) || S < 1 || n !== B * (S + 1)) {
    const name = batch.where ? `${batch.where}: ` : '';
    throw new Error(
      `${name}inputIds has ${n} ids, which is not batchSize ${B} rows of seqLength + 1${batch.seqLength === undefined ? '' : ` = ${S + 1}`} ids`,
    );
  }
  return { B, S };
}
