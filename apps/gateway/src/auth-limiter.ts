/** Tuning of the per-client slowdown after failed logins. */
export interface AuthLimiterOptions {
  /** Failures answered without delay. */
  freeFailures: number;
  baseDelayMs: number;
  maxDelayMs: number;
  /** A client's record is forgotten after this long without failures. */
  forgetAfterMs: number;
  /** Bound on tracked clients, so a spray of source addresses can't grow memory. */
  maxClients: number;
}

const DEFAULTS: AuthLimiterOptions = {
  freeFailures: 3,
  baseDelayMs: 100,
  maxDelayMs: 5000,
  forgetAfterMs: 15 * 60_000,
  maxClients: 10_000,
};

/**
 * Slows down password guessing per client IP: after `freeFailures` failures every further
 * attempt waits, doubling from `baseDelayMs` up to `maxDelayMs`; a success resets the client.
 * The delay applies before the check too, so parallel guesses from one IP all wait.
 */
export class AuthLimiter {
  private readonly opts: AuthLimiterOptions;
  /** ip → failures and time of the last one; Map order doubles as LRU order. */
  private readonly clients = new Map<string, { failures: number; lastAt: number }>();

  constructor(
    opts: Partial<AuthLimiterOptions> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.opts = { ...DEFAULTS, ...opts };
  }

  /** How long to hold this client's next attempt, ms. */
  delayFor(ip: string): number {
    const c = this.clients.get(ip);
    if (!c) return 0;
    if (this.now() - c.lastAt > this.opts.forgetAfterMs) {
      this.clients.delete(ip);
      return 0;
    }
    const over = c.failures - this.opts.freeFailures;
    if (over < 0) return 0;
    return Math.min(this.opts.baseDelayMs * 2 ** over, this.opts.maxDelayMs);
  }

  failure(ip: string): void {
    const c = this.clients.get(ip);
    this.clients.delete(ip);
    this.clients.set(ip, { failures: (c?.failures ?? 0) + 1, lastAt: this.now() });
    if (this.clients.size > this.opts.maxClients) {
      const oldest = this.clients.keys().next().value;
      if (oldest !== undefined) this.clients.delete(oldest);
    }
  }

  success(ip: string): void {
    this.clients.delete(ip);
  }
}
