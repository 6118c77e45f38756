import { EventEmitter } from 'node:events';
import type { Redis } from 'ioredis';
import type { FunctionEntry, FunctionRegistry } from './function-registry.js';
import { fnKey, type SchedulerKeys } from './keys.js';

/**
 * Every function's active version in memory, so an invocation needs no Redis round trip.
 * Kept fresh by the `changed` channel; after the subscriber reconnects (messages may have
 * been missed) the whole cache reloads. A miss falls back to Redis once (a function just
 * deployed through another replica whose message is still in flight).
 *
 * Emits `changed(key, entry | undefined)` after an entry is replaced or dropped.
 */
export class FunctionCache extends EventEmitter {
  private readonly entries = new Map<string, FunctionEntry>();
  private stopped = false;

  constructor(
    private readonly registry: FunctionRegistry,
    private readonly subscriber: Redis,
    private readonly keys: SchedulerKeys,
  ) {
    super();
  }

  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, key: string) => {
      if (channel === this.keys.changed) void this.reload(key);
    });
    this.subscriber.on('ready', () => {
      if (!this.stopped) void this.resubscribe();
    });
    if (this.subscriber.status === 'ready') await this.resubscribe();
  }

  stop(): void {
    this.stopped = true;
  }

  get(namespace: string, name: string): FunctionEntry | undefined {
    return this.entries.get(fnKey(namespace, name));
  }

  all(): FunctionEntry[] {
    return [...this.entries.values()];
  }

  /** The cached entry, else one Redis read (NOT_FOUND stays undefined, UNAVAILABLE throws). */
  async load(namespace: string, name: string): Promise<FunctionEntry | undefined> {
    const hit = this.get(namespace, name);
    if (hit) return hit;
    const entry = await this.registry.find(namespace, name);
    if (entry) this.entries.set(fnKey(namespace, name), entry);
    return entry;
  }

  /** Reload everything; also run by the leader loop now and then as a safety net. */
  async reloadAll(): Promise<void> {
    const all = await this.registry.listAll();
    const seen = new Set<string>();
    for (const e of all) {
      const key = fnKey(e.record.namespace, e.record.name);
      seen.add(key);
      const old = this.entries.get(key);
      this.entries.set(key, e);
      if (!old || old.version.version !== e.version.version || old.record.replicas !== e.record.replicas) {
        this.emit('changed', key, e);
      }
    }
    for (const key of [...this.entries.keys()]) {
      if (!seen.has(key)) {
        this.entries.delete(key);
        this.emit('changed', key, undefined);
      }
    }
  }

  private async resubscribe(): Promise<void> {
    try {
      await this.subscriber.subscribe(this.keys.changed);
      await this.reloadAll();
    } catch {
      // Redis went away again; the next 'ready' retries.
    }
  }

  /**
   * Re-reads one function now. The replica that wrote it calls this, so its own next call
   * never sees the old version while the pub/sub message is in flight.
   */
  async refresh(namespace: string, name: string): Promise<void> {
    await this.reload(fnKey(namespace, name));
  }

  private async reload(key: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    try {
      const entry = await this.registry.find(ns, name);
      if (entry) this.entries.set(key, entry);
      else this.entries.delete(key);
      this.emit('changed', key, entry);
    } catch {
      // Keep serving the old entry; the reload after reconnect corrects it.
    }
  }
}
