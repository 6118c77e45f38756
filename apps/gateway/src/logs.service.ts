import { PassThrough } from 'node:stream';
import { InvalidArgumentError, type LogLine, type LogsReadRequest, SchedulerPatterns } from '@floe/contracts';
import { type BeforeApplicationShutdown, Inject, Injectable } from '@nestjs/common';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { GatewayConfig } from './config.js';
import { SchedulerClient } from './scheduler.client.js';
import { GATEWAY_CONFIG } from './tokens.js';

/** Query of GET /system/logs, as OpenFaaS names it. */
export interface LogsQuery {
  name?: string;
  namespace?: string;
  tail?: string;
  follow?: string;
  since?: string;
}

/**
 * Streams function logs as NDJSON, one OpenFaaS log message per line. `follow` keeps the
 * response open and polls the scheduler for lines after the last one sent until the client
 * goes away. (Lines sharing the last timestamp exactly may be skipped: `since` is exclusive.)
 */
@Injectable()
export class LogsService implements BeforeApplicationShutdown {
  /** Open follow streams; ended before the server closes, which would otherwise wait on them forever. */
  private readonly following = new Set<PassThrough>();

  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(SchedulerClient) private readonly scheduler: SchedulerClient,
  ) {}

  async stream(query: LogsQuery, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const first = this.request(query);
    // The first read happens before any byte is sent, so an unknown function is still a JSON 404.
    const lines = await this.read(first);
    const out = new PassThrough();
    reply.code(200).type('application/x-ndjson').header('cache-control', 'no-cache').send(out);
    let since = this.write(out, lines) ?? first.since;
    if (query.follow !== 'true' && query.follow !== '1') {
      out.end();
      return;
    }
    let open = true;
    const stop = () => {
      open = false;
    };
    req.raw.once('close', stop);
    out.once('finish', stop);
    this.following.add(out);
    while (open) {
      await new Promise((r) => setTimeout(r, this.config.logsPollMs));
      if (!open) break;
      try {
        const more = await this.read({
          name: first.name,
          namespace: first.namespace,
          ...(since ? { since } : {}),
        });
        since = this.write(out, more) ?? since;
      } catch {
        // A scheduler hiccup mid-follow: keep the stream and try again on the next tick.
      }
    }
    this.following.delete(out);
    out.end();
  }

  beforeApplicationShutdown(): void {
    for (const out of this.following) out.end();
  }

  private request(q: LogsQuery): LogsReadRequest {
    if (!q.name) throw new InvalidArgumentError('name', 'required');
    const msg: LogsReadRequest = { name: q.name, namespace: q.namespace || this.config.defaultNamespace };
    if (q.tail !== undefined && q.tail !== '') {
      if (!/^-?\d+$/.test(q.tail)) throw new InvalidArgumentError('tail', 'expected an integer');
      // OpenFaaS uses -1 (and 0) for "everything".
      if (Number(q.tail) > 0) msg.tail = Number(q.tail);
    }
    if (q.since) {
      if (Number.isNaN(Date.parse(q.since)))
        throw new InvalidArgumentError('since', 'expected an RFC 3339 time');
      msg.since = q.since;
    }
    return msg;
  }

  private async read(msg: LogsReadRequest): Promise<LogLine[]> {
    return (await this.scheduler.call<LogLine[]>(SchedulerPatterns.logs, msg)) ?? [];
  }

  /** Writes lines; returns the timestamp of the last, or undefined if none. */
  private write(out: PassThrough, lines: LogLine[]): string | undefined {
    if (lines.length === 0) return undefined;
    out.write(lines.map((l) => `${JSON.stringify(l)}\n`).join(''));
    return lines[lines.length - 1]!.timestamp;
  }
}
