/**
 * GPT-2's byte-level alphabet: each of the 256 byte values is written as one printable
 * character, so that byte strings can be vocabulary entries. Printable Latin-1 bytes stand for
 * themselves ('!'..'~', '¡'..'¬', '®'..'ÿ'); the others become U+0100 onwards in byte order
 * (space is 'Ġ', newline 'Ċ').
 */

/** The character of each byte value [256]. */
export const BYTE_CHARS: readonly string[] = (() => {
  const chars: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
    chars.push(String.fromCharCode(printable ? b : next++));
  }
  return chars;
})();

/** Byte value of each alphabet character code, -1 for other codes [0x144]. */
const BYTE_OF = (() => {
  const table = new Int16Array(0x144).fill(-1);
  BYTE_CHARS.forEach((ch, b) => {
    table[ch.charCodeAt(0)] = b;
  });
  return table;
})();

/** The byte a character stands for, or -1 when it is not in the alphabet. */
export function byteOfChar(code: number): number {
  return code < BYTE_OF.length ? BYTE_OF[code] : -1;
}

/** The bytes an alphabet string stands for, or null when a character is outside the alphabet. */
export function fromByteLevel(text: string): Uint8Array | null {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const b = byteOfChar(text.charCodeAt(i));
    if (b < 0) return null;
    bytes[i] = b;
  }
  return bytes;
}
