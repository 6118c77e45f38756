import { randomUUID } from 'node:crypto';
import {
  type AsyncCall,
  type DeadLetter,
  type DeadLettersRequest,
  type EnqueueRequest,
  type EnqueueResponse,
  InvalidArgumentError,
  storedRequest,
} from '@floe/contracts';
import type { Redis } from 'ioredis';
import { redisOp } from './errors.js';
import type { SchedulerKeys } from './keys.js';

/** Dead letters kept; older ones are trimmed. */
export const DEAD_LETTERS_KEPT = 1000;

/**
 * Durable async calls: the Redis stream `async` (field `call` = AsyncCall JSON) read by the
 * consumer group `workers`. A call is accepted once XADD returns (Redis with AOF keeps it);
 * it leaves the stream only after a worker completed it (XACK + XDEL), so a crash anywhere
 * in between leaves it pending for XAUTOCLAIM.
 */
export class AsyncQueue {
  constructor(
    private readonly redis: Redis,
    private readonly keys: SchedulerKeys,
  ) {}

  async ensureGroup(): Promise<void> {
    try {
      // From id 0: calls accepted before the group existed are still delivered.
      await this.redis.xgroup('CREATE', this.keys.asyncStream, this.keys.asyncGroup, '0', 'MKSTREAM');
    } catch (err) {
      if (!/BUSYGROUP/.test((err as Error).message)) throw err;
    }
  }

  async enqueue(req: EnqueueRequest): Promise<EnqueueResponse> {
    if (!req?.request?.function) throw new InvalidArgumentError('request.function', 'required');
    if (req.callbackUrl !== undefined) {
      try {
        const u = new URL(req.callbackUrl);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
      } catch {
        throw new InvalidArgumentError('callbackUrl', `expected an http(s) URL, got '${req.callbackUrl}'`);
      }
    }
    const callId = req.request.callId || randomUUID();
    // A sync deadline makes no sense for a call that may wait and retry: each attempt sets its own.
    const { deadline: _deadline, ...request } = req.request;
    const call: AsyncCall = {
      callId,
      request: storedRequest({ ...request, callId }),
      attempts: 0,
      enqueuedAt: Date.now(),
    };
    if (req.callbackUrl) call.callbackUrl = req.callbackUrl;
    await redisOp('async enqueue', () =>
      this.redis.xadd(this.keys.asyncStream, '*', 'call', JSON.stringify(call)),
    );
    return { callId };
  }

  async deadLetters(req: DeadLettersRequest): Promise<DeadLetter[]> {
    const limit = Math.min(Math.max(Number(req?.limit) || 100, 1), DEAD_LETTERS_KEPT);
    const raw = await redisOp('async dead letters', () =>
      this.redis.lrange(this.keys.deadLetters, 0, DEAD_LETTERS_KEPT - 1),
    );
    const all = raw.map((r) => JSON.parse(r) as DeadLetter);
    return all.filter((d) => !req?.namespace || d.request.namespace === req.namespace).slice(0, limit);
  }

  /** Marks a call done: dead-lettered or not, it leaves the stream in one transaction. */
  async complete(entryId: string, dead?: DeadLetter): Promise<void> {
    const m = this.redis.multi();
    if (dead)
      m.lpush(this.keys.deadLetters, JSON.stringify(dead)).ltrim(
        this.keys.deadLetters,
        0,
        DEAD_LETTERS_KEPT - 1,
      );
    await m
      .xack(this.keys.asyncStream, this.keys.asyncGroup, entryId)
      .xdel(this.keys.asyncStream, entryId)
      .hdel(this.keys.asyncAttempts, entryId)
      .exec();
  }

  /** Counts an attempt of `entryId` in Redis (survives the worker) and returns its number. */
  recordAttempt(entryId: string): Promise<number> {
    return this.redis.hincrby(this.keys.asyncAttempts, entryId, 1);
  }

  /** Accepted but not completed: pending (delivered, not acked) plus lag (not yet delivered). */
  async backlog(): Promise<{ pending: number; lag: number; dead: number }> {
    const groups = (await this.redis.xinfo('GROUPS', this.keys.asyncStream)) as unknown[][];
    let pending = 0;
    let lag = 0;
    for (const g of groups) {
      const info = new Map<string, unknown>();
      for (let i = 0; i + 1 < g.length; i += 2) info.set(String(g[i]), g[i + 1]);
      if (info.get('name') !== this.keys.asyncGroup) continue;
      pending = Number(info.get('pending') ?? 0);
      lag = Number(info.get('lag') ?? 0);
    }
    const dead = await this.redis.llen(this.keys.deadLetters);
    return { pending, lag, dead };
  }
}
