/**
 * SentencePiece's decoding of ids to text: CONTROL pieces vanish, `<unk>` prints the model's
 * unknown surface, runs of BYTE pieces are read as UTF-8 (each invalid byte becomes one U+FFFD,
 * as SentencePiece's own UTF-8 reader does, which differs from TextDecoder), `▁` becomes a space,
 * and the `▁` the normalizer added in front is dropped again (every leading one where it also
 * strips extra whitespace).
 */
import { PieceType } from './model.ts';
import { SPACE } from './normalizer.ts';
import type { Vocabulary } from './vocabulary.ts';

const isTrail = (b: number) => (b & 0xc0) === 0x80;
const isValidCodePoint = (c: number) => c < 0xd800 || (c >= 0xe000 && c <= 0x10ffff);

/** Reads bytes as UTF-8 the way SentencePiece's DecodeUTF8 does: one U+FFFD per invalid byte. */
export function decodeUtf8Lenient(bytes: ArrayLike<number>): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const b0 = bytes[i],
      left = bytes.length - i;
    let cp = -1,
      n = 1;
    if (b0 < 0x80) {
      cp = b0;
    } else if (left >= 2 && (b0 & 0xe0) === 0xc0 && isTrail(bytes[i + 1])) {
      const c = ((b0 & 0x1f) << 6) | (bytes[i + 1] & 0x3f);
      if (c >= 0x80) {
        cp = c;
        n = 2;
      }
    } else if (left >= 3 && (b0 & 0xf0) === 0xe0 && isTrail(bytes[i + 1]) && isTrail(bytes[i + 2])) {
      const c = ((b0 & 0x0f) << 12) | ((bytes[i + 1] & 0x3f) << 6) | (bytes[i + 2] & 0x3f);
      if (c >= 0x800 && isValidCodePoint(c)) {
        cp = c;
        n = 3;
      }
    } else if (
      left >= 4 &&
      (b0 & 0xf8) === 0xf0 &&
      isTrail(bytes[i + 1]) &&
      isTrail(bytes[i + 2]) &&
      isTrail(bytes[i + 3])
    ) {
      const c =
        ((b0 & 0x07) << 18) | ((bytes[i + 1] & 0x3f) << 12) | ((bytes[i + 2] & 0x3f) << 6) | (bytes[i + 3] & 0x3f);
      if (c >= 0x10000 && isValidCodePoint(c)) {
        cp = c;
        n = 4;
      }
    }
    out += cp < 0 ? '\uFFFD' : String.fromCodePoint(cp);
    i += n;
  }
  return out;
}

/** What decoding needs to know about the model besides its vocabulary. */
export interface DecodeOptions {
  unkSurface: string;
  /** the normalizer adds a dummy `▁` prefix or strips leading whitespace: drop it again */
  stripLeadingSpace: boolean;
  /** the normalizer removes extra whitespace: drop every `▁` that leads the text */
  stripAllLeadingSpace: boolean;
}

/** Decodes ids to text as `SentencePieceProcessor::DecodeIds` does; an id out of range throws. */
export function decodeIds(vocab: Vocabulary, options: DecodeOptions, ids: ArrayLike<number>): string {
  let text = '';
  let bytes: number[] = [];
  const flushBytes = () => {
    if (bytes.length > 0) {
      text += decodeUtf8Lenient(bytes);
      bytes = [];
    }
  };
  let atStart = true; // nothing written and no leading `▁` consumed yet
  let consumed = false; // the previous piece gave up its leading `▁`
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!Number.isInteger(id) || id < 0 || id >= vocab.size)
      throw new Error(`id ${id} is out of range [0, ${vocab.size})`);
    const type = vocab.types[id];
    if (type === PieceType.Byte) {
      bytes.push(vocab.byteOf[id]);
      continue;
    }
    flushBytes();
    if (atStart && (consumed || text.length > 0)) atStart = false;
    consumed = false;
    if (type === PieceType.Control) continue;
    if (type === PieceType.Unknown) {
      text += options.unkSurface;
      continue;
    }
    let piece = vocab.pieces[id];
    if (atStart && options.stripLeadingSpace && piece.startsWith(SPACE)) {
      piece = piece.slice(1);
      consumed = !options.stripAllLeadingSpace;
    }
    text += piece.replaceAll(SPACE, ' ');
  }
  flushBytes();
  return text;
}
