/**
 * Payloads of the SchedulerPatterns calls the gateway makes, so that gateway and scheduler
 * code against one shape. Every call that names a function carries an explicit namespace:
 * the gateway resolves a missing one to DEFAULT_NAMESPACE before sending.
 *
 * Errors: the scheduler throws `RpcException(floeError.toJSON())`, i.e. a SerializedError;
 * the gateway revives it with `reviveError` and maps its code to HTTP. Two details the
 * gateway reads: `details.retryAfterSeconds` on RESOURCE_EXHAUSTED (→ Retry-After) and
 * `details.httpStatus` 401 or 403 for a missing or wrong `X-Api-Key` (the scheduler checks
 * the `com.floe.api-key` annotation where it caches the function version).
 */
import type { FunctionStatus } from './function.js';
import type { InvokeRequest, StoredInvokeRequest } from './invoke.js';

/** OpenFaaS's default function namespace; used when a request names none. */
export const DEFAULT_NAMESPACE = 'openfaas-fn';

/**
 * Annotation the gateway adds to a deployment whose `image` names a tar uploaded through
 * POST /floe/images: the absolute path of that tar, importable by agents on this host.
 */
export const ANNOTATION_IMAGE_ARCHIVE = 'com.floe.image-archive';

/**
 * Annotation the gateway adds instead when it pushed that upload into the configured registry
 * (`FLOE_REGISTRY`): `registry/repo@sha256:...`, which every agent pulls.
 */
export const ANNOTATION_IMAGE_PINNED = 'com.floe.image-pinned';

/**
 * The secret (per namespace) holding registry credentials as a docker `config.json`
 * (`{"auths": {"host:port": {"auth": "base64(user:pass)"}}}`): stored encrypted like every
 * secret, read by the scheduler at deploy and by agents when they pull.
 */
export const REGISTRY_AUTH_SECRET = 'floe-registry-auth';

/** fn.get, fn.remove, fn.versions. */
export interface FunctionRef {
  name: string;
  namespace: string;
}

/** fn.list, secret.list. */
export interface NamespaceRef {
  namespace: string;
}

/** fn.page: at most `limit` functions of a namespace, by name, after `cursor` (exclusive). */
export interface FunctionPageRequest extends NamespaceRef {
  limit: number;
  cursor?: string;
}

/** fn.page answers this; `nextCursor` is absent on the last page. */
export interface FunctionPage {
  functions: FunctionStatus[];
  nextCursor?: string;
}

/** fn.scale. */
export interface ScaleRequest extends FunctionRef {
  replicas: number;
}

/** fn.rollback: make `version` the active version again. */
export interface RollbackRequest extends FunctionRef {
  version: number;
}

/** One entry of fn.versions' answer. */
export interface FunctionVersionSummary {
  version: number;
  createdAt: string;
  active: boolean;
  image?: string;
  /** The digest `image` was resolved to at deploy (registry images and pushed uploads). */
  imagePinned?: string;
  runtime?: string;
}

/** secret.put. `create` fails with ALREADY_EXISTS if present; `update` with NOT_FOUND if absent. */
export interface SecretPutRequest {
  name: string;
  namespace: string;
  /** Exactly one of value (text) or rawValue (base64 of the bytes), as in OpenFaaS. */
  value?: string;
  rawValue?: string;
  mode: 'create' | 'update';
}

/** secret.list answers these; values never leave the scheduler through the gateway. */
export interface SecretSummary {
  name: string;
  namespace: string;
}

/** secret.remove. */
export type SecretRemoveRequest = FunctionRef;

/** async.enqueue; answers EnqueueResponse. */
export interface EnqueueRequest {
  /** Bytes over the frame RPC; a base64 string from an older caller over Nest TCP. */
  request: InvokeRequest | StoredInvokeRequest;
  callbackUrl?: string;
}

export interface EnqueueResponse {
  callId: string;
}

/** async.dead; answers AsyncCall[] (newest first). */
export interface DeadLettersRequest {
  namespace?: string;
  limit: number;
}

/** logs.read; answers LogLine[] oldest first. */
export interface LogsReadRequest extends FunctionRef {
  /** Last N lines; absent means the scheduler's default. */
  tail?: number;
  /** RFC 3339; only lines strictly after it. */
  since?: string;
}

/** One log line, in the OpenFaaS logs API shape. */
export interface LogLine {
  name: string;
  namespace: string;
  instance: string;
  /** RFC 3339 with sub-second precision. */
  timestamp: string;
  text: string;
}

/** scheduler.info answers this (all optional: the gateway fills OpenFaaS's /system/info around it). */
export interface SchedulerInfo {
  version?: string;
  sha?: string;
  orchestration?: string;
}

/** build.log: a deploy's build log lines from index `after` on (the CLI follows it while deploying). */
export interface BuildLogRequest {
  id: string;
  after?: number;
}

export interface BuildLogResponse {
  lines: string[];
  /** Pass as `after` next time. */
  next: number;
}
