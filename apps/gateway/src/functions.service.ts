import {
  ANNOTATION_IMAGE_ARCHIVE,
  ANNOTATION_IMAGE_PINNED,
  type BuildLogResponse,
  type FunctionDeployment,
  type FunctionPage,
  type FunctionRef,
  type FunctionStatus,
  type FunctionVersionSummary,
  InvalidArgumentError,
  type RollbackRequest,
  type ScaleRequest,
  SchedulerPatterns,
  validateDeployment,
  withoutNulls,
} from '@floe/contracts';
import { Inject, Injectable } from '@nestjs/common';
import type { GatewayConfig } from './config.js';
import { ImageAvailability } from './image-availability.js';
import { ImageRefs } from './image-refs.js';
import { SchedulerClient } from './scheduler.client.js';
import { GATEWAY_CONFIG } from './tokens.js';

/** Function management: validation here, storage and scheduling in the scheduler. */
@Injectable()
export class FunctionsService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(SchedulerClient) private readonly scheduler: SchedulerClient,
    @Inject(ImageRefs) private readonly images: ImageRefs,
    @Inject(ImageAvailability) private readonly availability: ImageAvailability,
  ) {}

  deploy(body: unknown, buildId?: string): Promise<unknown> {
    return this.send(SchedulerPatterns.deploy, body, buildId);
  }

  update(body: unknown, buildId?: string): Promise<unknown> {
    return this.send(SchedulerPatterns.update, body, buildId);
  }

  /**
   * Code with a lockfile waits for its dependencies install (minutes, at worst), so a deploy
   * with code gets the build's timeout instead of the management calls' one.
   */
  private async send(
    pattern: typeof SchedulerPatterns.deploy | typeof SchedulerPatterns.update,
    body: unknown,
    buildId?: string,
  ): Promise<unknown> {
    const dep = validateDeployment(body);
    await this.availability.require(dep);
    const msg = { ...this.withArchive(dep), ...(buildId ? { buildId } : {}) };
    const timeout = dep.code ? Math.max(this.config.rpcTimeoutMs, this.config.buildTimeoutMs) : undefined;
    return this.scheduler.call(pattern, msg, timeout);
  }

  buildLog(id: string, after: string | undefined): Promise<BuildLogResponse> {
    if (after !== undefined && !/^\d+$/.test(after))
      throw new InvalidArgumentError('after', 'expected an integer >= 0');
    return this.scheduler.call(SchedulerPatterns.buildLog, {
      id,
      ...(after === undefined ? {} : { after: Number(after) }),
    });
  }

  async remove(body: unknown, namespace?: string): Promise<void> {
    const b = (withoutNulls(body) ?? {}) as { functionName?: unknown; namespace?: unknown };
    if (typeof b.functionName !== 'string' || b.functionName === '')
      throw new InvalidArgumentError('functionName', 'required');
    const ns = typeof b.namespace === 'string' && b.namespace ? b.namespace : namespace;
    await this.scheduler.call(SchedulerPatterns.remove, this.ref(b.functionName, ns));
  }

  list(namespace?: string): Promise<FunctionStatus[]> {
    return this.scheduler.call(SchedulerPatterns.list, { namespace: this.ns(namespace) });
  }

  /**
   * One page of the namespace's functions by name (`limit` 1–1000, `cursor` the previous
   * page's nextCursor): with thousands of functions, a listing need not carry them all.
   */
  page(namespace: string | undefined, limit: string | undefined, cursor?: string): Promise<FunctionPage> {
    const n = Number(limit ?? 100);
    if (!/^\d+$/.test(String(limit ?? '100')) || n < 1 || n > 1000)
      throw new InvalidArgumentError('limit', 'expected an integer from 1 to 1000');
    return this.scheduler.call(SchedulerPatterns.page, {
      namespace: this.ns(namespace),
      limit: n,
      ...(cursor ? { cursor } : {}),
    });
  }

  get(name: string, namespace?: string): Promise<FunctionStatus> {
    return this.scheduler.call(SchedulerPatterns.get, this.ref(name, namespace));
  }

  async scale(name: string, body: unknown, namespace?: string): Promise<void> {
    const b = (withoutNulls(body) ?? {}) as {
      replicas?: unknown;
      namespace?: unknown;
      serviceName?: unknown;
    };
    const replicas = b.replicas;
    if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0)
      throw new InvalidArgumentError('replicas', 'expected a non-negative integer');
    const ns = typeof b.namespace === 'string' && b.namespace ? b.namespace : namespace;
    const msg: ScaleRequest = { ...this.ref(name, ns), replicas };
    await this.scheduler.call(SchedulerPatterns.scale, msg);
  }

  versions(name: string, namespace?: string): Promise<FunctionVersionSummary[]> {
    return this.scheduler.call(SchedulerPatterns.versions, this.ref(name, namespace));
  }

  rollback(name: string, body: unknown, namespace?: string): Promise<unknown> {
    const version = (body as { version?: unknown } | undefined)?.version;
    if (typeof version !== 'number' || !Number.isInteger(version) || version < 1)
      throw new InvalidArgumentError('version', 'expected a version number (>= 1)');
    const msg: RollbackRequest = { ...this.ref(name, namespace), version };
    return this.scheduler.call(SchedulerPatterns.rollback, msg);
  }

  /** Names and replicas of every function, for gateway_service_count. */
  async replicas(): Promise<Map<string, number>> {
    const namespaces = new Set(await this.scheduler.call<string[]>(SchedulerPatterns.namespaces, {}));
    namespaces.add(this.config.defaultNamespace);
    const out = new Map<string, number>();
    for (const namespace of namespaces)
      for (const f of await this.list(namespace))
        out.set(`${f.name}.${f.namespace ?? namespace}`, f.replicas ?? 0);
    return out;
  }

  private ns(namespace: string | undefined): string {
    return namespace || this.config.defaultNamespace;
  }

  private ref(name: string, namespace: string | undefined): FunctionRef {
    return { name, namespace: this.ns(namespace) };
  }

  /**
   * The one field the gateway adds to a deployment: for an image uploaded through
   * POST /floe/images, where agents get it: the registry ref it was pushed to (annotation
   * com.floe.image-pinned, any host) or else the archive path (com.floe.image-archive, this
   * host). Everything else goes to the scheduler exactly as sent.
   */
  private withArchive(d: FunctionDeployment): FunctionDeployment {
    const up = d.image ? this.images.get(d.image) : undefined;
    if (!up || d.annotations?.[ANNOTATION_IMAGE_ARCHIVE] || d.annotations?.[ANNOTATION_IMAGE_PINNED])
      return d;
    const add: Record<string, string> = up.pinned
      ? { [ANNOTATION_IMAGE_PINNED]: up.pinned }
      : { [ANNOTATION_IMAGE_ARCHIVE]: up.archive };
    return { ...d, annotations: { ...d.annotations, ...add } };
  }
}
