/**
 * A growable open-addressing hash table from a pair of piece ids to the id of their
 * concatenation (or -1 when the concatenation is not a piece): the lookup BPE makes for every
 * candidate merge, kept in three flat Int32Arrays and filled as pairs are first met.
 */

/** What `get` returns for a pair that has not been added. */
export const ABSENT = -2;

/** (left id, right id) → merged id, -1 for "not a piece", ABSENT if unknown yet. */
export class PairTable {
  private mask = 1023;
  private count = 0;
  private left = new Int32Array(1024).fill(-1);
  private right = new Int32Array(1024);
  private merged = new Int32Array(1024);

  private slot(a: number, b: number): number {
    return (Math.imul(a, 0x9e3779b1) ^ Math.imul(b + 0x7f4a7c15, 0x85ebca77)) & this.mask;
  }

  /** The merged id of (a, b) (non-negative ids), -1, or ABSENT. */
  get(a: number, b: number): number {
    for (let i = this.slot(a, b); ; i = (i + 1) & this.mask) {
      const l = this.left[i];
      if (l === a && this.right[i] === b) return this.merged[i];
      if (l === -1) return ABSENT;
    }
  }

  /** Adds a pair that is not in the table yet. */
  add(a: number, b: number, id: number): void {
    if (2 * (this.count + 1) > this.mask + 1) this.grow();
    let i = this.slot(a, b);
    while (this.left[i] !== -1) i = (i + 1) & this.mask;
    this.left[i] = a; this.right[i] = b; this.merged[i] = id;
    this.count++;
  }

  private grow(): void {
    const { left, right, merged } = this;
    this.mask = 2 * (this.mask + 1) - 1;
    this.left = new Int32Array(this.mask + 1).fill(-1);
    this.right = new Int32Array(this.mask + 1);
    this.merged = new Int32Array(this.mask + 1);
    this.count = 0;
    for (let i = 0; i < left.length; i++) if (left[i] !== -1) this.add(left[i], right[i], merged[i]);
  }
}
