import { describe, expect, it } from 'vitest';
import { DeadlineTimer } from './deadline-timer.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe(DeadlineTimer.name, () => {
  it('fires for the earliest deadline, then re-arms for the next one the sweep returns', async () => {
    // Far apart, so a loaded machine's late first fire still comes before the second deadline.
    const pending = new Set([Date.now() + 1000, Date.now() + 20]);
    const swept: number[] = [];
    const timer = new DeadlineTimer((now) => {
      for (const d of pending) if (d <= now) pending.delete(d);
      swept.push(pending.size);
      return pending.size ? Math.min(...pending) : Number.POSITIVE_INFINITY;
    });
    for (const d of pending) timer.arm(d);
    // A timer may fire a little before Date.now() reaches its deadline; its sweep then finds
    // nothing due and returns the same deadline. So: the first sweep that clears anything
    // leaves the later deadline pending (1), and a later one, re-armed for it, clears it (0).
    await expect.poll(() => pending.size, { timeout: 20_000, interval: 5 }).toBe(0);
    const cleared = swept.filter((n, i) => n < (i === 0 ? 2 : swept[i - 1]!));
    expect(cleared).toEqual([1, 0]);
  });

  it('ignores a later deadline, and clear() stops it', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(() => {
      fired++;
      return Number.POSITIVE_INFINITY;
    });
    timer.arm(Date.now() + 20);
    timer.arm(Date.now() + 10_000); // later: the armed timer already covers it
    timer.clear();
    await sleep(40);
    expect(fired).toBe(0);
  });

  it('takes a deadline past setTimeout range without firing early', async () => {
    let fired = 0;
    const timer = new DeadlineTimer(() => {
      fired++;
      return Number.POSITIVE_INFINITY;
    });
    timer.arm(Date.now() + 40 * 24 * 3600 * 1000); // 40 days: more than 2^31-1 ms
    await sleep(20);
    expect(fired).toBe(0);
    timer.clear();
  });
});
