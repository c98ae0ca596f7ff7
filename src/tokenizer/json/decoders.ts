/**
 * The `decoder` of a `tokenizer.json`: token strings → text, as Hugging Face's Rust tokenizers
 * chain them (each step maps the list of strings; the results are joined). ByteLevel reads
 * GPT-2's alphabet back into bytes (a token with any other character gives its own UTF-8) and
 * the whole list as UTF-8, each invalid sequence one U+FFFD; Metaspace turns `▁` into spaces,
 * dropping every one in the first token unless its prepend scheme is never; ByteFallback reads
 * runs of `<0xXX>` tokens as UTF-8 (one U+FFFD per byte if the run is invalid); Fuse joins;
 * Strip removes up to n copies of a character from each token's ends; Replace as the normalizer.
 */
import { byteOfChar } from './byte_level.ts';
import type { JsonNode } from './json_node.ts';
import { replacer } from './normalizers.ts';
import { prependScheme } from './pre_tokenizers.ts';

/** One decoding step over the token strings. */
export type DecodeStep = (tokens: string[]) => string[];

const TYPES = ['Sequence', 'ByteLevel', 'Metaspace', 'Replace', 'ByteFallback', 'Fuse', 'Strip'] as const;
/** A byte token as Rust's `u8::from_str_radix(.., 16)` reads it (which also takes a '+' sign). */
const BYTE_TOKEN = /^<0x([0-9a-fA-F]{2}|\+[0-9a-fA-F])>$/;

const encoder = new TextEncoder();
const lenientUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** The decoder of a `decoder` node; with none, tokens are joined with spaces. */
export function buildDecoder(node: JsonNode): (tokens: string[]) => string {
  if (node.missing) return (tokens) => tokens.join(' ');
  const step = buildStep(node);
  return (tokens) => step(tokens).join('');
}

function buildStep(node: JsonNode): DecodeStep {
  const type = node.type(TYPES);
  switch (type) {
    case 'Sequence': {
      const steps = node.get('decoders').items().map(buildStep);
      return (tokens) => steps.reduce((t, step) => step(t), tokens);
    }
    case 'ByteLevel':
      return (tokens) => [lenientUtf8.decode(byteLevelBytes(tokens))];
    case 'Metaspace': {
      const replacement = node.get('replacement').string();
      const scheme = prependScheme(node);
      return (tokens) => tokens.map((t, i) => t.replaceAll(replacement, i === 0 && scheme !== 'never' ? '' : ' '));
    }
    case 'Replace': {
      const replace = replacer(node);
      return (tokens) => tokens.map(replace);
    }
    case 'ByteFallback':
      return byteFallback;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      const content = node.get('content').string();
      const start = node.get('start').index(),
        stop = node.get('stop').index();
      return (tokens) => tokens.map((t) => strip(t, content, start, stop));
    }
  }
}

/** The bytes of byte-level tokens: alphabet characters read back, other tokens as UTF-8. */
function byteLevelBytes(tokens: string[]): Uint8Array {
  const bytes: number[] = [];
  for (const token of tokens) {
    const start = bytes.length;
    let inAlphabet = true;
    for (let i = 0; i < token.length && inAlphabet; i++) {
      const b = byteOfChar(token.charCodeAt(i));
      if (b < 0) inAlphabet = false;
      else bytes.push(b);
    }
    if (!inAlphabet) {
      bytes.length = start;
      for (const b of encoder.encode(token)) bytes.push(b);
    }
  }
  return Uint8Array.from(bytes);
}

function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let bytes: number[] = [];
  const flush = () => {
    if (bytes.length === 0) return;
    try {
      out.push(strictUtf8.decode(Uint8Array.from(bytes)));
    } catch {
      for (let k = 0; k < bytes.length; k++) out.push('\uFFFD');
    }
    bytes = [];
  };
  for (const token of tokens) {
    const m = BYTE_TOKEN.exec(token);
    if (m) {
      bytes.push(parseInt(m[1], 16));
      continue;
    }
    flush();
    out.push(token);
  }
  flush();
  return out;
}

/** Removes up to `start` copies of `content` from the front of a token and up to `stop` from its end. */
function strip(token: string, content: string, start: number, stop: number): string {
  const chars = [...token];
  let from = 0;
  while (from < start && from < chars.length && chars[from] === content) from++;
  let to = chars.length;
  while (chars.length - to < stop && to > from && chars[to - 1] === content) to--;
  return chars.slice(from, to).join('');
}
