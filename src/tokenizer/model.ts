/**
 * The SentencePiece `tokenizer.model` file: a protobuf `ModelProto` with the vocabulary
 * (`pieces = 1`), the trainer settings that matter for encoding (`trainer_spec = 2`) and the
 * normalizer (`normalizer_spec = 3`). Field numbers are SentencePiece's `sentencepiece_model.proto`.
 */
import { ProtobufError, ProtobufReader, Wire } from './protobuf.ts';

/** `ModelProto.SentencePiece.Type`. */
export const enum PieceType {
  Normal = 1,
  Unknown = 2,
  Control = 3,
  UserDefined = 4,
  Unused = 5,
  Byte = 6,
}

/** `TrainerSpec.ModelType`. */
export const enum ModelType {
  Unigram = 1,
  Bpe = 2,
  Word = 3,
  Char = 4,
}

/** `NormalizerSpec`: how text is normalized before segmentation. */
export interface NormalizerSpec {
  name: string;
  /** compiled normalization rules: u32 trie size, Darts double-array trie, NUL-separated outputs */
  charsmap: Uint8Array;
  addDummyPrefix: boolean;
  removeExtraWhitespaces: boolean;
  escapeWhitespaces: boolean;
}

/** A parsed `tokenizer.model`. Arrays are indexed by piece id. */
export interface SentencePieceModel {
  pieces: string[];
  scores: Float32Array;
  types: Uint8Array;
  modelType: ModelType;
  byteFallback: boolean;
  treatWhitespaceAsSuffix: boolean;
  /** the special pieces' text (`unk_piece = 45`, `bos_piece = 46`, `eos_piece = 47`, `pad_piece = 48`) */
  unkPiece: string;
  bosPiece: string;
  eosPiece: string;
  padPiece: string;
  /** what decoding prints for `<unk>` (default " ⁇ ") */
  unkSurface: string;
  normalizer: NormalizerSpec;
}

const MODEL_TYPE_NAMES: Record<number, string> = { 1: 'unigram', 2: 'BPE', 3: 'word', 4: 'char' };

type TrainerFields = Pick<
  SentencePieceModel,
  | 'modelType'
  | 'byteFallback'
  | 'treatWhitespaceAsSuffix'
  | 'unkPiece'
  | 'bosPiece'
  | 'eosPiece'
  | 'padPiece'
  | 'unkSurface'
>;

function readPiece(r: ProtobufReader, index: number): [string, number, number] {
  let piece: string | undefined;
  let score = 0,
    type: number = PieceType.Normal;
  while (r.next()) {
    if (r.field === 1) {
      r.expect(Wire.Bytes, 'piece');
      piece = r.string();
    } else if (r.field === 2) {
      r.expect(Wire.Fixed32, 'score');
      score = r.float();
    } else if (r.field === 3) {
      r.expect(Wire.Varint, 'type');
      type = r.uint32();
    } else r.skip();
  }
  if (piece === undefined) throw new ProtobufError(`piece ${index} has no text`, false);
  if (type < PieceType.Normal || type > PieceType.Byte)
    throw new ProtobufError(`piece ${index} has unknown type ${type}`, false);
  return [piece, score, type];
}

function readTrainer(r: ProtobufReader): TrainerFields {
  const t: TrainerFields = {
    modelType: ModelType.Unigram,
    byteFallback: false,
    treatWhitespaceAsSuffix: false,
    unkPiece: '<unk>',
    bosPiece: '<s>',
    eosPiece: '</s>',
    padPiece: '<pad>',
    unkSurface: ' \u2047 ',
  };
  while (r.next()) {
    switch (r.field) {
      case 3:
        r.expect(Wire.Varint, 'model_type');
        t.modelType = r.uint32();
        break;
      case 24:
        r.expect(Wire.Varint, 'treat_whitespace_as_suffix');
        t.treatWhitespaceAsSuffix = r.uint32() !== 0;
        break;
      case 35:
        r.expect(Wire.Varint, 'byte_fallback');
        t.byteFallback = r.uint32() !== 0;
        break;
      case 44:
        r.expect(Wire.Bytes, 'unk_surface');
        t.unkSurface = r.string();
        break;
      case 45:
        r.expect(Wire.Bytes, 'unk_piece');
        t.unkPiece = r.string();
        break;
      case 46:
        r.expect(Wire.Bytes, 'bos_piece');
        t.bosPiece = r.string();
        break;
      case 47:
        r.expect(Wire.Bytes, 'eos_piece');
        t.eosPiece = r.string();
        break;
      case 48:
        r.expect(Wire.Bytes, 'pad_piece');
        t.padPiece = r.string();
        break;
      default:
        r.skip();
    }
  }
  return t;
}

function readNormalizer(r: ProtobufReader): NormalizerSpec {
  const n: NormalizerSpec = {
    name: '',
    charsmap: new Uint8Array(0),
    addDummyPrefix: true,
    removeExtraWhitespaces: true,
    escapeWhitespaces: true,
  };
  while (r.next()) {
    switch (r.field) {
      case 1:
        r.expect(Wire.Bytes, 'name');
        n.name = r.string();
        break;
      case 2:
        r.expect(Wire.Bytes, 'precompiled_charsmap');
        n.charsmap = r.bytesField().slice();
        break;
      case 3:
        r.expect(Wire.Varint, 'add_dummy_prefix');
        n.addDummyPrefix = r.uint32() !== 0;
        break;
      case 4:
        r.expect(Wire.Varint, 'remove_extra_whitespaces');
        n.removeExtraWhitespaces = r.uint32() !== 0;
        break;
      case 5:
        r.expect(Wire.Varint, 'escape_whitespaces');
        n.escapeWhitespaces = r.uint32() !== 0;
        break;
      default:
        r.skip();
    }
  }
  return n;
}

/**
 * Parses a `tokenizer.model`. Errors name `source` and say whether the file is truncated, is not
 * a SentencePiece model, or is a kind of model this tokenizer does not implement (only BPE is).
 */
export function parseModel(bytes: Uint8Array, source: string): SentencePieceModel {
  const pieces: string[] = [],
    scores: number[] = [],
    types: number[] = [];
  let trainer: TrainerFields | undefined, normalizer: NormalizerSpec | undefined;
  try {
    const r = new ProtobufReader(bytes);
    while (r.next()) {
      if (r.field === 1) {
        r.expect(Wire.Bytes, 'pieces');
        const [p, s, t] = readPiece(r.message(), pieces.length);
        pieces.push(p);
        scores.push(s);
        types.push(t);
      } else if (r.field === 2) {
        r.expect(Wire.Bytes, 'trainer_spec');
        trainer = readTrainer(r.message());
      } else if (r.field === 3) {
        r.expect(Wire.Bytes, 'normalizer_spec');
        normalizer = readNormalizer(r.message());
      } else {
        r.skip();
      }
    }
  } catch (err) {
    if (!(err instanceof ProtobufError)) throw err;
    throw new Error(
      err.truncated
        ? `${source}: truncated SentencePiece model (${err.message})`
        : `${source}: not a SentencePiece model (${err.message})`,
    );
  }
  if (pieces.length === 0) throw new Error(`${source}: not a SentencePiece model (no pieces)`);
  if (!trainer || !normalizer) {
    throw new Error(
      `${source}: truncated SentencePiece model (it ends after ${pieces.length} pieces, without ${trainer ? 'normalizer_spec' : 'trainer_spec'})`,
    );
  }
  if (trainer.modelType !== ModelType.Bpe) {
    const name = MODEL_TYPE_NAMES[trainer.modelType] ?? `type ${trainer.modelType}`;
    throw new Error(`${source}: a ${name} SentencePiece model; only BPE models are supported for now`);
  }
  const unknowns = types.filter((t) => t === PieceType.Unknown).length;
  if (unknowns !== 1)
    throw new Error(`${source}: not a usable SentencePiece model (${unknowns} pieces of type UNKNOWN, expected 1)`);
  return { pieces, scores: Float32Array.from(scores), types: Uint8Array.from(types), normalizer, ...trainer };
}
