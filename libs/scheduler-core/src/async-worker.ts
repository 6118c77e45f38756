import {
  type AsyncCall,
  type DeadLetter,
  FloeError,
  type InvokeRequest,
  type InvokeResponse,
  invokeRequestOf,
  type SerializedError,
} from '@floe/contracts';
import type { Redis } from 'ioredis';
import type { AsyncQueue } from './async-queue.js';
import type { SchedulerKeys } from './keys.js';
import { metrics } from './metrics.js';

export interface AsyncWorkerSettings {
  /** Consumer name in the group; unique per scheduler replica and process. */
  consumer: string;
  concurrency: number;
  maxAttempts: number;
  /** A pending call idle this long belongs to a dead worker and is claimed. */
  claimIdleMs: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  callbackTimeoutMs: number;
}

const RETRYABLE_CODES = new Set(['RESOURCE_EXHAUSTED', 'UNAVAILABLE', 'DEADLINE_EXCEEDED']);
const RETRYABLE_STATUS = new Set([429, 502, 503, 504]);
const STATUS_OF: Record<string, number> = {
  RESOURCE_EXHAUSTED: 429,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  NOT_FOUND: 404,
  INVALID_ARGUMENT: 400,
  FUNCTION_FAILED: 502,
};

type Outcome = { res?: InvokeResponse; error?: SerializedError; attempts: number };

/**
 * Completes async calls: XREADGROUP new entries (up to `concurrency` at once), invoke with
 * exponential backoff on retryable failures, POST the result to the callback URL, then
 * XACK. Entries of dead workers are taken over with XAUTOCLAIM at start and every
 * claimIdleMs/2; while a call runs, its entry is re-claimed by its own worker (JUSTID) so
 * a long call is never mistaken for a dead worker's. Delivery is at-least-once: a crash
 * after the callback but before XACK repeats the call.
 */
export class AsyncWorker {
  private readonly running = new Map<string, Promise<void>>();
  private stopped = false;
  private timers: NodeJS.Timeout[] = [];
  private loop?: Promise<void>;
  private slotFreed?: () => void;

  constructor(
    /** A connection of its own: XREADGROUP BLOCK holds it. */
    private readonly blocking: Redis,
    private readonly redis: Redis,
    private readonly keys: SchedulerKeys,
    private readonly queue: AsyncQueue,
    private readonly invoke: (req: InvokeRequest) => Promise<InvokeResponse>,
    private readonly settings: AsyncWorkerSettings,
    private readonly log: (msg: string) => void = () => {},
  ) {}

  start(): void {
    this.loop = this.readLoop();
    const claim = setInterval(
      () => void this.claim().catch(() => {}),
      Math.max(250, this.settings.claimIdleMs / 2),
    );
    const touch = setInterval(
      () => void this.touch().catch(() => {}),
      Math.max(200, this.settings.claimIdleMs / 3),
    );
    claim.unref();
    touch.unref();
    this.timers.push(claim, touch);
  }

  /** Stops taking calls and waits for running ones (their entries stay pending if cut short). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.slotFreed?.();
    // Cuts a pending XREADGROUP BLOCK short; the connection is this worker's alone.
    this.blocking.disconnect();
    await this.loop;
    await Promise.allSettled(this.running.values());
  }

  get active(): number {
    return this.running.size;
  }

  /** Takes over calls pending longer than claimIdleMs on any consumer (ours included, after a restart). */
  async claim(): Promise<number> {
    const free = this.settings.concurrency - this.running.size;
    if (free <= 0 || this.stopped) return 0;
    const [, entries] = (await this.redis.xautoclaim(
      this.keys.asyncStream,
      this.keys.asyncGroup,
      this.settings.consumer,
      this.settings.claimIdleMs,
      '0-0',
      'COUNT',
      free,
    )) as [string, [string, string[]][]];
    let n = 0;
    for (const [id, fields] of entries ?? []) {
      if (!fields || this.running.has(id)) continue;
      this.dispatch(id, fields);
      n++;
    }
    return n;
  }

  private async readLoop(): Promise<void> {
    await this.claim().catch(() => {});
    while (!this.stopped) {
      const free = this.settings.concurrency - this.running.size;
      if (free <= 0) {
        await new Promise<void>((r) => {
          this.slotFreed = r;
        });
        continue;
      }
      try {
        const res = (await this.blocking.xreadgroup(
          'GROUP',
          this.keys.asyncGroup,
          this.settings.consumer,
          'COUNT',
          free,
          'BLOCK',
          1000,
          'STREAMS',
          this.keys.asyncStream,
          '>',
        )) as [string, [string, string[]][]][] | null;
        for (const [, entries] of res ?? []) for (const [id, fields] of entries) this.dispatch(id, fields);
      } catch (err) {
        if (this.stopped) break;
        if (/NOGROUP/.test((err as Error).message)) await this.queue.ensureGroup().catch(() => {});
        // Redis away: back off instead of spinning; the stream keeps every call.
        await sleep(500);
      }
    }
  }

  private dispatch(id: string, fields: string[]): void {
    const raw = fields[fields.indexOf('call') + 1];
    const p = (async () => {
      try {
        if (!raw) {
          await this.queue.complete(id);
          return;
        }
        await this.process(id, JSON.parse(raw) as AsyncCall);
      } catch (err) {
        // Left pending: XAUTOCLAIM retries it once Redis is back.
        this.log(`async ${id}: ${(err as Error).message}`);
      }
    })().finally(() => {
      this.running.delete(id);
      const freed = this.slotFreed;
      this.slotFreed = undefined;
      freed?.();
    });
    this.running.set(id, p);
  }

  private async process(id: string, call: AsyncCall): Promise<void> {
    const started = Date.now();
    const out = await this.attempt(id, call);
    const seconds = (Date.now() - started) / 1000;
    const ok = out.res !== undefined && !RETRYABLE_STATUS.has(out.res.status);
    const status = out.res?.status ?? STATUS_OF[out.error?.code ?? ''] ?? 500;
    if (call.callbackUrl) await this.callback(call, status, seconds, out);
    let dead: DeadLetter | undefined;
    if (!ok) {
      dead = { ...call, attempts: out.attempts, failedAt: Date.now() };
      if (out.error) dead.error = out.error;
      if (out.res) dead.lastStatus = out.res.status;
      metrics.asyncAttempts.inc({ outcome: 'dead' });
    }
    await this.queue.complete(id, dead);
  }

  private async attempt(id: string, call: AsyncCall): Promise<Outcome> {
    let last: Outcome = {
      attempts: this.settings.maxAttempts,
      error: {
        code: 'UNAVAILABLE',
        message: 'no attempt finished: the workers running it died',
        fault: 'platform',
        details: {},
      },
    };
    for (;;) {
      if (this.stopped) throw new Error('worker stopping');
      // Counted in Redis before the call: a call whose attempts kill the scheduler still runs out.
      const n = await this.queue.recordAttempt(id);
      if (n > this.settings.maxAttempts) return last;
      try {
        const res = await this.invoke(invokeRequestOf(call.request));
        last = { res, attempts: n };
        if (!RETRYABLE_STATUS.has(res.status)) {
          metrics.asyncAttempts.inc({ outcome: 'ok' });
          return last;
        }
      } catch (err) {
        const e =
          err instanceof FloeError
            ? err.toJSON()
            : { code: 'INTERNAL' as const, message: String(err), fault: 'platform' as const, details: {} };
        last = { error: e, attempts: n };
        if (!RETRYABLE_CODES.has(e.code)) return last;
      }
      if (n >= this.settings.maxAttempts) return last;
      metrics.asyncAttempts.inc({ outcome: 'retry' });
      const delay = Math.min(this.settings.backoffMaxMs, this.settings.backoffBaseMs * 2 ** (n - 1));
      await sleep(delay / 2 + Math.random() * (delay / 2));
    }
  }

  private async callback(call: AsyncCall, status: number, seconds: number, out: Outcome): Promise<void> {
    const headers: Record<string, string> = {
      'X-Function-Status': String(status),
      'X-Call-Id': call.callId,
      'X-Duration-Seconds': seconds.toFixed(3),
      'X-Function-Name': call.request.function,
    };
    const ct = Object.entries(out.res?.headers ?? {}).find(([k]) => k.toLowerCase() === 'content-type')?.[1];
    if (ct) headers['Content-Type'] = ct;
    const body = out.res ? out.res.body : Buffer.from(JSON.stringify(out.error ?? {}));
    if (!out.res) headers['Content-Type'] = 'application/json';
    for (let i = 0; i < 3; i++) {
      try {
        const r = await fetch(call.callbackUrl as string, {
          method: 'POST',
          headers,
          body,
          signal: AbortSignal.timeout(this.settings.callbackTimeoutMs),
        });
        await r.arrayBuffer().catch(() => {});
        if (r.status < 500) return;
      } catch {
        // retried below
      }
      await sleep(200 * 2 ** i);
    }
    metrics.asyncAttempts.inc({ outcome: 'callback_failed' });
    this.log(`async ${call.callId}: callback to ${call.callbackUrl} failed`);
  }

  /** Resets the idle time of our running entries so no other worker claims them. */
  private async touch(): Promise<void> {
    const ids = [...this.running.keys()];
    if (ids.length === 0) return;
    await this.redis.xclaim(
      this.keys.asyncStream,
      this.keys.asyncGroup,
      this.settings.consumer,
      0,
      ...ids,
      'JUSTID',
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
