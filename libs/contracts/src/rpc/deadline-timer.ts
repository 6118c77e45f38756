/** setTimeout's largest delay; a longer one fires at once (with a TimeoutOverflowWarning). */
const MAX_DELAY_MS = 2 ** 31 - 1;

/**
 * One timer for many pending calls, armed for the earliest of their deadlines (Date.now()
 * ms). A setTimeout/clearTimeout pair per call costs more on the invoke path than a timeout
 * that rarely fires. When it fires, `sweep(now)` fails the calls that are due and returns
 * the next deadline still pending, or Infinity.
 */
export class DeadlineTimer {
  private timer?: NodeJS.Timeout;
  private at = Number.POSITIVE_INFINITY;

  constructor(private readonly sweep: (now: number) => number) {}

  /** Makes sure the timer fires by `deadline`. Unref'd: pending calls keep the process alive, not it. */
  arm(deadline: number): void {
    if (deadline >= this.at) return;
    clearTimeout(this.timer);
    this.at = deadline;
    this.timer = setTimeout(() => this.fire(), Math.min(MAX_DELAY_MS, Math.max(0, deadline - Date.now())));
    this.timer.unref();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.at = Number.POSITIVE_INFINITY;
  }

  private fire(): void {
    this.timer = undefined;
    this.at = Number.POSITIVE_INFINITY;
    const next = this.sweep(Date.now());
    if (next !== Number.POSITIVE_INFINITY) this.arm(next);
  }
}
