/**
 * SentencePiece's normalizer: applies the model's compiled character map (a Darts-clone double
 * array over UTF-8 bytes; empty for Llama's "identity" rule), drops or keeps extra whitespace,
 * adds the dummy-prefix `▁` and turns spaces into `▁`. User-defined pieces pass unnormalized.
 */
import type { NormalizerSpec } from './model.ts';
import { PrefixMatcher } from './prefix_matcher.ts';

/** The whitespace symbol `▁` (U+2581) that stands for a space inside pieces. */
export const SPACE = '\u2581';

/** A UTF-16 surrogate without its partner: UTF-8 cannot hold it, so it is read as U+FFFD. */
const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATES = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

/** Longest match of the compiled character map at a position: [input bytes, output text]. */
interface CharsmapMatch {
  length: number;
  output: string;
}

/** The precompiled charsmap: u32 LE trie size, the double array (u32 units), then NUL-terminated outputs. */
class Charsmap {
  private readonly units: Uint32Array;
  private readonly outputs: Uint8Array;
  private readonly cache = new Map<number, string>();

  constructor(blob: Uint8Array) {
    if (blob.length < 4) throw new Error('precompiled_charsmap is shorter than its header');
    const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
    const trieBytes = view.getUint32(0, true);
    if (trieBytes % 4 !== 0 || 4 + trieBytes > blob.length)
      throw new Error('precompiled_charsmap trie size is out of range');
    this.units = new Uint32Array(trieBytes / 4);
    for (let i = 0; i < this.units.length; i++) this.units[i] = view.getUint32(4 + 4 * i, true);
    this.outputs = blob.subarray(4 + trieBytes);
  }

  /** Darts-clone commonPrefixSearch over bytes[pos..], keeping the longest match. */
  longest(bytes: Uint8Array, pos: number): CharsmapMatch | null {
    const units = this.units;
    if (units.length === 0) return null;
    let node = 0;
    let unit = units[0];
    node ^= offsetOf(unit);
    let bestLength = 0,
      bestValue = 0;
    for (let i = pos; i < bytes.length; i++) {
      const label = bytes[i];
      node ^= label;
      if (node >= units.length) break;
      unit = units[node];
      if ((unit & 0x800000ff) !== label) break; // label(): the low byte plus the leaf flag bit 31
      node ^= offsetOf(unit);
      if ((unit >>> 8) & 1) {
        // has_leaf(): the value sits in the unit at the new node
        bestLength = i + 1 - pos;
        bestValue = units[node] & 0x7fffffff;
      }
    }
    return bestLength === 0 ? null : { length: bestLength, output: this.outputAt(bestValue) };
  }

  private outputAt(offset: number): string {
    let text = this.cache.get(offset);
    if (text === undefined) {
      let end = offset;
      while (end < this.outputs.length && this.outputs[end] !== 0) end++;
      text = decoder.decode(this.outputs.subarray(offset, end));
      this.cache.set(offset, text);
    }
    return text;
  }
}

/** Darts-clone unit offset(): bits 10.. shifted left by 8 more when bit 9 is set. */
function offsetOf(unit: number): number {
  return (unit >>> 10) << ((unit & (1 << 9)) >>> 6);
}

/** Length of the UTF-8 character starting with `lead` as SentencePiece's OneCharLen counts it. */
function utf8Length(lead: number): number {
  return lead < 0xc0 ? 1 : lead < 0xe0 ? 2 : lead < 0xf0 ? 3 : 4;
}

/** Normalizes text the way one model's `NormalizerSpec` says; `userDefined` matches UTF-8 bytes. */
export class Normalizer {
  private readonly charsmap: Charsmap | null;
  /** identity rules, no user-defined pieces, whitespace kept: a replace does it all */
  private readonly plain: boolean;

  constructor(
    private readonly spec: NormalizerSpec,
    private readonly userDefined: PrefixMatcher | null,
  ) {
    this.charsmap = spec.charsmap.length > 0 ? new Charsmap(spec.charsmap) : null;
    this.plain = !this.charsmap && !userDefined && !spec.removeExtraWhitespaces;
  }

  /** The normalized form of text, with `▁` for spaces where the spec escapes them. */
  normalize(text: string): string {
    if (ANY_SURROGATE.test(text)) text = text.replace(LONE_SURROGATES, '\uFFFD');
    if (this.plain) {
      if (text.length === 0) return '';
      const body = this.spec.escapeWhitespaces ? text.replaceAll(' ', SPACE) : text;
      return this.spec.addDummyPrefix ? (this.spec.escapeWhitespaces ? SPACE : ' ') + body : body;
    }
    return this.normalizeBytes(encoder.encode(text));
  }

  /** The general path, over UTF-8 bytes as SentencePiece's Normalizer::Normalize runs it. */
  private normalizeBytes(input: Uint8Array): string {
    const spec = this.spec;
    const space = spec.escapeWhitespaces ? SPACE : ' ';
    let pos = 0;
    if (spec.removeExtraWhitespaces) {
      while (pos < input.length) {
        const [piece, consumed] = this.prefix(input, pos);
        if (piece !== ' ') break;
        pos += consumed;
      }
    }
    if (pos >= input.length) return '';
    let out = '';
    if (spec.addDummyPrefix) out += space;
    let prevSpace = spec.removeExtraWhitespaces;
    while (pos < input.length) {
      const [piece, consumed] = this.prefix(input, pos);
      let sp = piece;
      if (prevSpace) {
        let k = 0;
        while (k < sp.length && sp.charCodeAt(k) === 0x20) k++;
        sp = sp.slice(k);
      }
      if (sp.length > 0) {
        out += spec.escapeWhitespaces ? sp.replaceAll(' ', SPACE) : sp;
        prevSpace = sp.endsWith(' ');
      }
      pos += consumed;
      if (!spec.removeExtraWhitespaces) prevSpace = false;
    }
    if (spec.removeExtraWhitespaces) {
      while (out.endsWith(space)) out = out.slice(0, -space.length);
    }
    return out;
  }

  /** NormalizePrefix: a user-defined piece as is, else the longest charsmap rule, else one character. */
  private prefix(input: Uint8Array, pos: number): [string, number] {
    if (this.userDefined) {
      const n = this.userDefined.match(input, pos);
      if (n > 0) return [decoder.decode(input.subarray(pos, pos + n)), n];
    }
    const m = this.charsmap?.longest(input, pos);
    if (m) return [m.output, m.length];
    const n = Math.min(utf8Length(input[pos]), input.length - pos);
    return [decoder.decode(input.subarray(pos, pos + n)), n];
  }
}
