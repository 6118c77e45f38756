import {
  FUNCTION_NAME_RE,
  InvalidArgumentError,
  SchedulerPatterns,
  type SecretPutRequest,
  type SecretSummary,
  withoutNulls,
} from '@floe/contracts';
import { Inject, Injectable } from '@nestjs/common';
import type { GatewayConfig } from './config.js';
import { SchedulerClient } from './scheduler.client.js';
import { GATEWAY_CONFIG } from './tokens.js';

const SECRET_NAME_RE = /^[a-zA-Z0-9]([-._a-zA-Z0-9]{0,251}[a-zA-Z0-9])?$/;
const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * OpenFaaS secrets: `{ name, namespace?, value? | rawValue? }`; values are write-only. A `null`
 * member is absent, as Go clients mean it.
 */
@Injectable()
export class SecretsService {
  constructor(
    @Inject(GATEWAY_CONFIG) private readonly config: GatewayConfig,
    @Inject(SchedulerClient) private readonly scheduler: SchedulerClient,
  ) {}

  list(namespace?: string): Promise<SecretSummary[]> {
    return this.scheduler.call(SchedulerPatterns.secretList, { namespace: this.ns(namespace) });
  }

  async put(input: unknown, mode: 'create' | 'update', namespace?: string): Promise<void> {
    const body = withoutNulls(input);
    const b = this.named(body, namespace);
    const { value, rawValue } = body as { value?: unknown; rawValue?: unknown };
    if (value !== undefined && typeof value !== 'string')
      throw new InvalidArgumentError('value', 'expected a string');
    if (rawValue !== undefined && (typeof rawValue !== 'string' || !BASE64_RE.test(rawValue)))
      throw new InvalidArgumentError('rawValue', 'expected base64');
    if ((value === undefined) === (rawValue === undefined))
      throw new InvalidArgumentError('value', 'give exactly one of value or rawValue (base64)');
    const msg: SecretPutRequest = {
      ...b,
      mode,
      ...(value === undefined ? { rawValue } : { value }),
    } as SecretPutRequest;
    await this.scheduler.call(SchedulerPatterns.secretPut, msg);
  }

  async remove(body: unknown, namespace?: string): Promise<void> {
    await this.scheduler.call(SchedulerPatterns.secretRemove, this.named(body, namespace));
  }

  private named(body: unknown, namespace?: string): { name: string; namespace: string } {
    const b = (withoutNulls(body) ?? {}) as { name?: unknown; namespace?: unknown };
    if (typeof b.name !== 'string' || !SECRET_NAME_RE.test(b.name))
      throw new InvalidArgumentError('name', 'required: letters, digits, -, ., _ (max 253)');
    if (
      b.namespace !== undefined &&
      b.namespace !== '' &&
      (typeof b.namespace !== 'string' || !FUNCTION_NAME_RE.test(b.namespace))
    )
      throw new InvalidArgumentError('namespace', 'not a DNS-1123 label');
    return { name: b.name, namespace: this.ns((b.namespace as string | undefined) || namespace) };
  }

  private ns(namespace: string | undefined): string {
    return namespace || this.config.defaultNamespace;
  }
}
