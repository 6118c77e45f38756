import { bytes, type Output } from './output.js';

/**
 * A byte progress bar on a terminal (redrawn in place, ended with a newline), and on anything
 * else a plain line at each quarter, so logs and CI output stay readable.
 */
export class Progress {
  private lastQuarter = -1;
  private lastDraw = 0;
  private drawnFull = false;
  private done = false;

  constructor(
    private readonly o: Output,
    private readonly label: string,
    private readonly total: number,
  ) {}

  update(n: number): void {
    if (this.done || this.o.json) return;
    const frac = this.total > 0 ? Math.min(1, n / this.total) : 1;
    if (this.o.isTTY) {
      const now = Date.now();
      if (frac < 1 && now - this.lastDraw < 50) return;
      this.lastDraw = now;
      this.drawnFull = frac >= 1;
      const width = 30;
      const fill = Math.round(frac * width);
      this.o.err(
        `\r${this.label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${String(Math.floor(frac * 100)).padStart(3)}% ${bytes(n)}/${bytes(this.total)}\x1b[K`,
      );
      return;
    }
    const q = Math.floor(frac * 4);
    if (q > this.lastQuarter) {
      this.lastQuarter = q;
      this.o.err(`${this.label}: ${q * 25}% (${bytes(n)} of ${bytes(this.total)})\n`);
    }
  }

  finish(): void {
    if (this.done || this.o.json) return;
    if (!this.drawnFull) this.update(this.total);
    this.done = true;
    if (this.o.isTTY) this.o.err('\n');
  }
}
