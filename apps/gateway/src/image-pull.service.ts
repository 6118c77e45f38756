import { PassThrough } from 'node:stream';
import { type ImagePullEvent, parseImagePullBody, SchedulerPatterns } from '@floe/contracts';
import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { FastifyReply } from 'fastify';
import type { GatewayConfig } from './config.js';
import { toHttpError } from './http-error.js';
import { SchedulerClient } from './scheduler.client.js';
import { GATEWAY_CONFIG } from './tokens.js';

/** Silence from the scheduler for this long ends the response (layers report several times a second). */
const IDLE_MS = 300_000;

/**
 * POST /floe/images/pull: the scheduler's ImagePullEvents as NDJSON, one per line. Nothing is
 * sent before the first event (`resolved`), so a bad ref, a missing tag, refused credentials
 * or an unreachable registry are still a JSON error with its status; a failure after that
 * ends the stream with an `{"type":"error","status","error":{...}}` line.
 */
@Injectable()
export class ImagePullService implements BeforeApplicationShutdown {
  private readonly open = new Set<PassThrough>();

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(SchedulerClient) private readonly scheduler: SchedulerClient,
  ) {}

  async pull(body: unknown, namespace: string | undefined, reply: FastifyReply): Promise<void> {
    const req = parseImagePullBody(body, namespace, this.config.defaultNamespace);
    const out = new PassThrough();
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      this.open.add(out);
      reply.code(200).type('application/x-ndjson').header('cache-control', 'no-cache').send(out);
    };
    try {
      await this.scheduler.stream<ImagePullEvent>(
        SchedulerPatterns.imagePull,
        req,
        (e) => {
          start();
          out.write(`${JSON.stringify(e)}\n`);
        },
        IDLE_MS,
      );
      start();
    } catch (err) {
      if (!started) throw err;
      const { status, body: b } = toHttpError(err);
      out.write(`${JSON.stringify({ type: 'error', status, ...b })}\n`);
    } finally {
      this.open.delete(out);
      out.end();
    }
  }

  beforeApplicationShutdown(): void {
    for (const out of this.open) out.end();
  }
}
