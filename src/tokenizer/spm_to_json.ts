/**
 * Writes the `tokenizer.json` that Hugging Face's `LlamaConverter` (transformers'
 * convert_slow_tokenizer.py, used when a fast Llama tokenizer is made from a `tokenizer.model`)
 * writes for a SentencePiece BPE model:
 * - model: BPE over every piece (ids kept; the first three scored 0), with byte_fallback,
 *   fuse_unk, the unknown piece as unk_token, and merges made from the scores: every split of a
 *   piece into two pieces, ordered by the piece's score, then the longer left part, then the
 *   longer right part (highest first), then the piece's id and the parts' ids;
 * - added tokens: the unknown and control pieces (special) and the user-defined ones (not
 *   special), none normalized;
 * - legacy (the default, as Llama 2's files are): normalizer Prepend "▁" then Replace " " → "▁",
 *   no pre-tokenizer; otherwise no normalizer and a Metaspace pre-tokenizer that prepends "▁" to
 *   the first piece only and does not split;
 * - decoder: Replace "▁" → " ", ByteFallback, Fuse, Strip one leading space;
 * - post-processor: TemplateProcessing with BOS before and (if asked) EOS after, as
 *   LlamaTokenizerFast sets it from add_bos_token and add_eos_token.
 * Only models with Llama's normalizer (no character map, a dummy prefix, spaces kept) convert
 * to the same ids; others are refused.
 */
import { ModelType, PieceType, type SentencePieceModel } from './model.ts';

/** Choices the slow tokenizer's settings make. */
export interface LlamaJsonOptions {
  /** the legacy handling of text after special tokens (default true, as Llama 2) */
  legacy?: boolean;
  /** whether the post-processor adds BOS (default true) and EOS (default false) */
  addBos?: boolean;
  addEos?: boolean;
}

const SPACE = '\u2581';

/** The tokenizer.json object for a parsed `tokenizer.model`; `source` names it in errors. */
export function llamaTokenizerJson(
  model: SentencePieceModel,
  source: string,
  { legacy = true, addBos = true, addEos = false }: LlamaJsonOptions = {},
): object {
  if (model.modelType !== ModelType.Bpe)
    throw new Error(`${source}: only BPE models convert to a Llama tokenizer.json`);
  const n = model.normalizer;
  if (n.charsmap.length > 0 || !n.addDummyPrefix || n.removeExtraWhitespaces || !n.escapeWhitespaces) {
    throw new Error(
      `${source}: the Llama converter keeps only Llama's normalizer (no character map, a dummy prefix, spaces kept); this model's differs, so its tokenizer.json would not give the same ids`,
    );
  }
  const vocab: Record<string, number> = {};
  model.pieces.forEach((piece, id) => {
    vocab[piece] = id;
  });
  const scores = Array.from(model.scores, (score, id) => (id < 3 ? 0 : score));
  const idOf = (piece: string) => model.pieces.indexOf(piece);
  const special = (piece: string) => {
    const id = idOf(piece);
    if (id < 0) throw new Error(`${source}: has no piece ${JSON.stringify(piece)}`);
    return { id: piece, ids: [id], tokens: [piece] };
  };
  const addedTokens = model.pieces.flatMap((content, id) => {
    const type = model.types[id];
    if (type !== PieceType.Unknown && type !== PieceType.Control && type !== PieceType.UserDefined) return [];
    return [
      {
        id,
        content,
        single_word: false,
        lstrip: false,
        rstrip: false,
        normalized: false,
        special: type !== PieceType.UserDefined,
      },
    ];
  });
  const templatePiece = (piece: string, typeId: number) => ({ SpecialToken: { id: piece, type_id: typeId } });
  const single = [
    ...(addBos ? [templatePiece(model.bosPiece, 0)] : []),
    { Sequence: { id: 'A', type_id: 0 } },
    ...(addEos ? [templatePiece(model.eosPiece, 0)] : []),
  ];
  const pair = [
    ...single,
    ...(addBos ? [templatePiece(model.bosPiece, 1)] : []),
    { Sequence: { id: 'B', type_id: 1 } },
    ...(addEos ? [templatePiece(model.eosPiece, 1)] : []),
  ];
  const specialTokens: Record<string, object> = {};
  if (addBos) specialTokens[model.bosPiece] = special(model.bosPiece);
  if (addEos) specialTokens[model.eosPiece] = special(model.eosPiece);
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: legacy
      ? {
          type: 'Sequence',
          normalizers: [
            { type: 'Prepend', prepend: SPACE },
            { type: 'Replace', pattern: { String: ' ' }, content: SPACE },
          ],
        }
      : null,
    pre_tokenizer: legacy ? null : { type: 'Metaspace', replacement: SPACE, prepend_scheme: 'first', split: false },
    post_processor: { type: 'TemplateProcessing', single, pair, special_tokens: specialTokens },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: SPACE }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: model.unkPiece,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: mergesFromScores(model.pieces, scores),
    },
  };
}

/**
 * transformers' generate_merges: for each piece (in id order) every split into two pieces,
 * ordered by the parts' ids; then all of them by score, left length, right length (highest
 * first, in code points), keeping that order among equals.
 */
export function mergesFromScores(pieces: readonly string[], scores: readonly number[]): [string, string][] {
  const ids = new Map<string, number>();
  pieces.forEach((piece, id) => {
    if (!ids.has(piece)) ids.set(piece, id);
  });
  const merges: { left: string; right: string; score: number; leftLength: number; rightLength: number }[] = [];
  pieces.forEach((piece, id) => {
    const chars = [...piece];
    const local: typeof merges = [];
    for (let k = 1; k < chars.length; k++) {
      const left = chars.slice(0, k).join(''),
        right = chars.slice(k).join('');
      if (ids.has(left) && ids.has(right))
        local.push({ left, right, score: scores[id], leftLength: k, rightLength: chars.length - k });
    }
    local.sort((a, b) => ids.get(a.left)! - ids.get(b.left)! || ids.get(a.right)! - ids.get(b.right)!);
    merges.push(...local);
  });
  merges.sort((a, b) => b.score - a.score || b.leftLength - a.leftLength || b.rightLength - a.rightLength);
  return merges.map((m) => [m.left, m.right]);
}
