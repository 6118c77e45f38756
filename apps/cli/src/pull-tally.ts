import type { ImagePullEvent } from '@floe/contracts';

/**
 * Adds up a pull's NDJSON events for one progress bar: bytes landed on every agent, of the
 * image's size times the agents pulling it. A layer an agent already had counts as landed.
 */
export class PullTally {
  total = 0;
  private readonly bytes = new Map<string, number>();

  /** The bytes done so far after `e`. */
  add(e: ImagePullEvent): number {
    if (e.type === 'resolved') this.total = e.size * e.agents.length;
    else if (e.type === 'layer') this.bytes.set(`${e.agent} ${e.digest}`, e.bytes);
    return this.done;
  }

  get done(): number {
    let n = 0;
    for (const b of this.bytes.values()) n += b;
    return n;
  }
}
