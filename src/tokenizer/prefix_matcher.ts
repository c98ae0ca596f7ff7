/**
 * Longest-prefix matching against a fixed set of sequences (SentencePiece's PrefixMatcher, used
 * for user-defined pieces): a trie over numbers, so the same code matches UTF-8 bytes in the
 * normalizer and UTF-16 code units in the encoder.
 */

interface TrieNode {
  next: Map<number, TrieNode>;
  end: boolean;
}

/** The UTF-16 code units of a string. */
export function codeUnits(text: string): Uint16Array {
  const units = new Uint16Array(text.length);
  for (let i = 0; i < text.length; i++) units[i] = text.charCodeAt(i);
  return units;
}

/** Finds the longest of a set of sequences at a position. */
export class PrefixMatcher {
  private readonly root: TrieNode = { next: new Map(), end: false };

  constructor(sequences: Iterable<ArrayLike<number>>) {
    for (const seq of sequences) {
      let node = this.root;
      for (let i = 0; i < seq.length; i++) {
        let child = node.next.get(seq[i]);
        if (!child) node.next.set(seq[i], (child = { next: new Map(), end: false }));
        node = child;
      }
      if (seq.length > 0) node.end = true;
    }
  }

  /** Length of the longest sequence that starts at units[pos], or 0 if none does. */
  match(units: ArrayLike<number>, pos: number): number {
    let node: TrieNode | undefined = this.root;
    let best = 0;
    for (let i = pos; i < units.length; i++) {
      node = node.next.get(units[i]);
      if (!node) break;
      if (node.end) best = i + 1 - pos;
    }
    return best;
  }
}
