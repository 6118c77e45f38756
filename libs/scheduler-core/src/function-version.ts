import { createHash } from 'node:crypto';
import {
  ANNOTATION_API_KEY,
  ANNOTATION_CONCURRENCY,
  ANNOTATION_IMAGE_ARCHIVE,
  ANNOTATION_IMAGE_PINNED,
  ANNOTATION_TIMEOUT,
  DEFAULT_MIN_SCALE,
  DEFAULT_NAMESPACE,
  type FunctionDeployment,
  type FunctionVersion,
  LABEL_SCALE_MAX,
  LABEL_SCALE_MIN,
  parseBytes,
  parseDurationMs,
  type RuntimeName,
} from '@floe/contracts';

export const DEFAULT_MEMORY_BYTES = 128 * 1024 ** 2;
export const DEFAULT_TIMEOUT_MS = 30_000;
export const DEFAULT_MAX_SCALE = 20;

/** Base images for code runtimes, used unless the deployment names an image. */
export const BASE_IMAGES: Record<Exclude<RuntimeName, 'image'>, string> = {
  node: 'floe/node:latest',
  python: 'floe/python:latest',
  exec: 'floe/busybox:latest',
};

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Resolves a validated deployment into an immutable version: defaults applied, code
 * replaced by its digest, the api key by its hash. `deployment` keeps the user's fields
 * as sent (minus code) so they can be echoed back.
 */
export function buildVersion(
  dep: FunctionDeployment,
  at: { version: number; createdAt: string; codeDigest?: string },
): FunctionVersion {
  const { code: _code, ...deployment } = dep;
  const labels = dep.labels ?? {};
  const annotations = dep.annotations ?? {};
  const runtime: RuntimeName = dep.runtime ?? 'image';
  const image = dep.image ?? (runtime === 'image' ? '' : BASE_IMAGES[runtime]);
  const minScale =
    labels[LABEL_SCALE_MIN] !== undefined ? Number(labels[LABEL_SCALE_MIN]) : DEFAULT_MIN_SCALE;
  const maxScale =
    labels[LABEL_SCALE_MAX] !== undefined ? Number(labels[LABEL_SCALE_MAX]) : DEFAULT_MAX_SCALE;
  const version: FunctionVersion = {
    name: dep.service,
    namespace: dep.namespace ?? DEFAULT_NAMESPACE,
    version: at.version,
    createdAt: at.createdAt,
    deployment,
    runtime,
    image,
    memoryBytes: parseBytes(dep.limits?.memory ?? '') || DEFAULT_MEMORY_BYTES,
    timeoutMs: parseDurationMs(annotations[ANNOTATION_TIMEOUT] ?? '') ?? DEFAULT_TIMEOUT_MS,
    maxConcurrency: Number(annotations[ANNOTATION_CONCURRENCY] ?? 1),
    minScale,
    maxScale: Math.max(maxScale, minScale),
    env: { ...(dep.envVars ?? {}) },
    secrets: [...(dep.secrets ?? [])],
  };
  if (at.codeDigest) version.codeDigest = at.codeDigest;
  // For exec the handler is the fprocess; OpenFaaS users give it as envProcess.
  const handler = dep.handler ?? (runtime === 'exec' ? dep.envProcess : undefined);
  if (handler) version.handler = handler;
  const cpu = parseCpuMillis(dep.limits?.cpu);
  if (cpu) version.cpuMillis = cpu;
  if (annotations[ANNOTATION_IMAGE_ARCHIVE]) version.imageArchive = annotations[ANNOTATION_IMAGE_ARCHIVE];
  if (annotations[ANNOTATION_IMAGE_PINNED]) version.imagePinned = annotations[ANNOTATION_IMAGE_PINNED];
  if (annotations[ANNOTATION_API_KEY]) {
    version.apiKeyHash = sha256(annotations[ANNOTATION_API_KEY]);
    // The key itself must not be echoed by fn.get/fn.list nor shipped to agents.
    version.deployment = {
      ...deployment,
      annotations: { ...annotations, [ANNOTATION_API_KEY]: '<redacted>' },
    };
  }
  return version;
}

/** Kubernetes cpu quantities: `500m` or `0.5` → 500. */
export function parseCpuMillis(raw: string | undefined): number | undefined {
  if (!raw) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)(m?)\s*$/.exec(raw);
  if (!m) return undefined;
  return Math.round(m[2] ? Number(m[1]) : Number(m[1]) * 1000) || undefined;
}
