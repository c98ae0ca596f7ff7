/**
 * The vocabulary of a SentencePiece model as the encoder and decoder look pieces up: NORMAL,
 * USER_DEFINED and UNUSED pieces are what merges may produce; UNKNOWN, CONTROL and BYTE pieces
 * are reserved and found only by exact lookup, as in SentencePiece's `ModelInterface`.
 */
import { PieceType, type SentencePieceModel } from './model.ts';

/** `<0x41>` for byte 0x41, the form of BYTE pieces. */
export function bytePiece(byte: number): string {
  return `<0x${byte.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** Piece text ↔ id, special ids and piece types of one model. */
export class Vocabulary {
  readonly size: number;
  readonly pieces: readonly string[];
  readonly types: Uint8Array;
  readonly scores: Float32Array;
  /** the UNKNOWN piece; bos/eos/pad are -1 when the model lacks them (as `sp.bos_id()` says) */
  readonly unkId: number;
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  /** id of the BYTE piece for each byte value, or unkId where the model has none */
  readonly byteIds: Int32Array;
  /** byte value of each BYTE piece id, -1 for other ids */
  readonly byteOf: Int16Array;
  private readonly normal = new Map<string, number>();
  private readonly reserved = new Map<string, number>();

  constructor(model: SentencePieceModel, source: string) {
    this.size = model.pieces.length;
    this.pieces = model.pieces;
    this.types = model.types;
    this.scores = model.scores;
    let unk = -1;
    for (let id = 0; id < this.size; id++) {
      const type = model.types[id];
      const isNormal = type === PieceType.Normal || type === PieceType.UserDefined || type === PieceType.Unused;
      const map = isNormal ? this.normal : this.reserved;
      if (map.has(model.pieces[id]))
        throw new Error(
          `${source}: piece ${JSON.stringify(model.pieces[id])} is defined twice (ids ${map.get(model.pieces[id])} and ${id})`,
        );
      map.set(model.pieces[id], id);
      if (type === PieceType.Unknown) unk = id;
      if (type === PieceType.Byte && !model.byteFallback)
        throw new Error(`${source}: has BYTE pieces but byte_fallback is off`);
    }
    this.unkId = unk;
    const special = (piece: string, type: PieceType) => {
      const id = this.pieceToId(piece);
      return this.types[id] === type ? id : -1;
    };
    this.bosId = special(model.bosPiece, PieceType.Control);
    this.eosId = special(model.eosPiece, PieceType.Control);
    this.padId = special(model.padPiece, PieceType.Control);
    this.byteIds = new Int32Array(256).fill(unk);
    this.byteOf = new Int16Array(this.size).fill(-1);
    for (let b = 0; b < 256; b++) {
      const id = this.reserved.get(bytePiece(b));
      if (id !== undefined && this.types[id] === PieceType.Byte) {
        this.byteIds[b] = id;
        this.byteOf[id] = b;
      }
    }
  }

  /** Id of a piece merges may produce (NORMAL, USER_DEFINED, UNUSED), or -1. */
  normalId(piece: string): number {
    return this.normal.get(piece) ?? -1;
  }

  /** SentencePiece's `PieceToId`: a reserved piece first, then a normal one, else the unknown id. */
  pieceToId(piece: string): number {
    return this.reserved.get(piece) ?? this.normal.get(piece) ?? this.unkId;
  }

  /** Whether a piece text is also a reserved piece (then `pieceToId` prefers the reserved one). */
  isReserved(piece: string): boolean {
    return this.reserved.has(piece);
  }

  /** Every NORMAL, USER_DEFINED and UNUSED piece with its id. */
  normalPieces(): IterableIterator<[string, number]> {
    return this.normal.entries();
  }
}
