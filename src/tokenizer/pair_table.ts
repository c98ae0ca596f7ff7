/**
 * An open-addressing hash table from a pair of piece ids to the id of their concatenation: the
 * lookup BPE makes for every candidate merge, kept in three flat Int32Arrays.
 */

/** (left id, right id) → merged id. */
export class PairTable {
  private readonly mask: number;
  private readonly left: Int32Array;
  private readonly right: Int32Array;
  private readonly merged: Int32Array;

  /** A table for `pairs` flattened as [left, right, merged, left, right, merged, ...], at most half full. */
  constructor(pairs: ArrayLike<number>) {
    let capacity = 16;
    while (capacity < (2 * pairs.length) / 3) capacity *= 2;
    this.mask = capacity - 1;
    this.left = new Int32Array(capacity).fill(-1);
    this.right = new Int32Array(capacity);
    this.merged = new Int32Array(capacity);
    for (let p = 0; p < pairs.length; p += 3) {
      const a = pairs[p],
        b = pairs[p + 1];
      let i = this.slot(a, b);
      while (this.left[i] !== -1 && !(this.left[i] === a && this.right[i] === b)) i = (i + 1) & this.mask;
      this.left[i] = a;
      this.right[i] = b;
      this.merged[i] = pairs[p + 2];
    }
  }

  private slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) & this.mask;
  }

  /** The merged id of (a, b) (non-negative ids), or -1. */
  get(a: number, b: number): number {
    for (let i = this.slot(a, b); ; i = (i + 1) & this.mask) {
      const l = this.left[i];
      if (l === a && this.right[i] === b) return this.merged[i];
      if (l === -1) return -1;
    }
  }
}
