/**
 * A one-line progress bar on stderr, drawn only when stderr is a terminal and at most ten times
 * a second: `[██████░░░░░░░░░░░░░░]  31% 1,550/5,000 records 2.1 s`.
 */

/** Reports progress of `total` units; call done() at the end to clear the line. */
export class ProgressBar {
  private readonly enabled = Boolean(process.stderr.isTTY);
  private readonly start = performance.now();
  private last = 0;

  constructor(
    private readonly total: number,
    private readonly unit: string,
  ) {}

  /** Shows `count` of the total as done. */
  update(count: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 100 && count < this.total) return;
    this.last = now;
    const width = 20,
      frac = this.total > 0 ? Math.min(1, count / this.total) : 1;
    const filled = Math.round(frac * width);
    const bar = '\u2588'.repeat(filled) + '\u2591'.repeat(width - filled);
    const seconds = ((now - this.start) / 1000).toFixed(1);
    process.stderr.write(
      `\r[${bar}] ${String(Math.round(frac * 100)).padStart(3)}% ${count.toLocaleString('en')}/${this.total.toLocaleString('en')} ${this.unit} ${seconds} s`,
    );
  }

  /** Clears the bar's line. */
  done(): void {
    if (this.enabled) process.stderr.write('\r\x1b[2K');
  }
}
