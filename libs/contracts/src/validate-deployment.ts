import { parseBytes } from './config.js';
import { InvalidArgumentError } from './errors.js';
import {
  ANNOTATION_CONCURRENCY,
  ANNOTATION_TIMEOUT,
  FUNCTION_NAME_RE,
  type FunctionDeployment,
  LABEL_SCALE_MAX,
  LABEL_SCALE_MIN,
  LABEL_SCALE_ZERO,
  LABEL_SCALE_ZERO_DURATION,
  RUNTIMES,
  type RuntimeName,
} from './function.js';
import { withoutNulls } from './go-nulls.js';

/**
 * Checks a FunctionDeployment as sent by a user, throwing InvalidArgumentError naming the
 * first bad field (the gateway answers 400 with it). Shared by gateway and scheduler so
 * both reject the same input. `existingSecrets`, when given, are the namespace's secret
 * names: every secret the deployment names must be among them. A `null` member counts as
 * absent (Go clients send unset fields so) and is left out of the deployment returned, which is
 * what gets stored and echoed.
 */
export function validateDeployment(
  input: unknown,
  opts: { existingSecrets?: readonly string[] } = {},
): FunctionDeployment {
  const dep = withoutNulls(input, ['limits', 'requests']);
  if (typeof dep !== 'object' || dep === null || Array.isArray(dep)) {
    throw new InvalidArgumentError('body', 'expected a FunctionDeployment object');
  }
  const d = dep as Record<string, unknown>;
  // Go's encoding of an unset string: the default namespace, as OpenFaaS reads it.
  if (d.namespace === '') delete d.namespace;
  if (typeof d.service !== 'string' || !FUNCTION_NAME_RE.test(d.service)) {
    throw new InvalidArgumentError('service', `expected a DNS-1123 label, got ${JSON.stringify(d.service)}`);
  }
  if (d.namespace !== undefined && (typeof d.namespace !== 'string' || !FUNCTION_NAME_RE.test(d.namespace))) {
    throw new InvalidArgumentError(
      'namespace',
      `expected a DNS-1123 label, got ${JSON.stringify(d.namespace)}`,
    );
  }
  optionalString(d, 'image');
  optionalString(d, 'handler');
  optionalString(d, 'code');
  optionalString(d, 'envProcess');
  if (d.runtime !== undefined && !RUNTIMES.includes(d.runtime as RuntimeName)) {
    throw new InvalidArgumentError(
      'runtime',
      `expected one of ${RUNTIMES.join(', ')}, got ${JSON.stringify(d.runtime)}`,
    );
  }
  if (!d.image) {
    if (!d.runtime) throw new InvalidArgumentError('image', 'image or runtime+handler+code is required');
    if (d.runtime === 'image') throw new InvalidArgumentError('image', 'runtime image needs an image');
    if (d.runtime === 'exec') {
      // Classic watchdog style: the fprocess (handler or envProcess) runs in the base image, code optional.
      if (!d.handler && !d.envProcess) {
        throw new InvalidArgumentError('handler', 'runtime exec needs a handler or envProcess');
      }
    } else {
      if (!d.handler) throw new InvalidArgumentError('handler', `runtime ${d.runtime} needs a handler`);
      if (!d.code) throw new InvalidArgumentError('code', `runtime ${d.runtime} needs a code archive`);
    }
  }
  if (typeof d.code === 'string' && !/^[A-Za-z0-9+/=\s]*$/.test(d.code)) {
    throw new InvalidArgumentError('code', 'expected base64');
  }
  stringRecord(d, 'envVars');
  stringRecord(d, 'labels');
  stringRecord(d, 'annotations');
  for (const field of ['limits', 'requests'] as const) {
    const r = d[field];
    if (r === undefined) continue;
    if (typeof r !== 'object' || r === null || Array.isArray(r))
      throw new InvalidArgumentError(field, 'expected an object');
    const cpu = (r as Record<string, unknown>).cpu;
    // Kubernetes cpu quantities (`500m`, `0.5`); anything else was silently ignored before.
    if (
      cpu !== undefined &&
      (typeof cpu !== 'string' || !/^\s*\d{1,6}(\.\d{1,3})?m?\s*$/.test(cpu) || !/[1-9]/.test(cpu))
    )
      throw new InvalidArgumentError(
        `${field}.cpu`,
        `expected a cpu quantity like 500m or 0.5, got ${JSON.stringify(cpu)}`,
      );
    const mem = (r as Record<string, unknown>).memory;
    const bytes = typeof mem === 'string' ? parseBytes(mem) : undefined;
    // A size past 2^53 is not a size any host has; it would reach cgroups as garbage.
    if (mem !== undefined && (bytes === undefined || bytes === 0 || !Number.isSafeInteger(bytes))) {
      throw new InvalidArgumentError(
        `${field}.memory`,
        `expected a size like 128Mi, got ${JSON.stringify(mem)}`,
      );
    }
  }
  const labels = (d.labels ?? {}) as Record<string, string>;
  const min = scaleLabel(labels, LABEL_SCALE_MIN);
  const max = scaleLabel(labels, LABEL_SCALE_MAX);
  if (min !== undefined && max !== undefined && min > max) {
    throw new InvalidArgumentError(
      `labels.${LABEL_SCALE_MIN}`,
      `must be <= ${LABEL_SCALE_MAX} (${min} > ${max})`,
    );
  }
  if (max === 0) throw new InvalidArgumentError(`labels.${LABEL_SCALE_MAX}`, 'must be >= 1');
  const zero = labels[LABEL_SCALE_ZERO];
  if (zero !== undefined && zero !== 'true' && zero !== 'false')
    throw new InvalidArgumentError(`labels.${LABEL_SCALE_ZERO}`, `expected true or false, got '${zero}'`);
  const zeroAfter = labels[LABEL_SCALE_ZERO_DURATION];
  if (zeroAfter !== undefined && parseDurationMs(zeroAfter) === undefined)
    throw new InvalidArgumentError(
      `labels.${LABEL_SCALE_ZERO_DURATION}`,
      `expected a duration like 15m or 30s, got '${zeroAfter}'`,
    );
  const annotations = (d.annotations ?? {}) as Record<string, string>;
  if (
    annotations[ANNOTATION_TIMEOUT] !== undefined &&
    parseDurationMs(annotations[ANNOTATION_TIMEOUT]) === undefined
  ) {
    throw new InvalidArgumentError(
      `annotations.${ANNOTATION_TIMEOUT}`,
      `expected seconds or a duration like 30s, at most ${MAX_DURATION_MS} ms`,
    );
  }
  const conc = annotations[ANNOTATION_CONCURRENCY];
  if (conc !== undefined && !/^[1-9]\d{0,4}$/.test(conc)) {
    throw new InvalidArgumentError(`annotations.${ANNOTATION_CONCURRENCY}`, 'expected a positive integer');
  }
  if (d.secrets !== undefined) {
    if (
      !Array.isArray(d.secrets) ||
      d.secrets.some((s) => typeof s !== 'string' || !FUNCTION_NAME_RE.test(s))
    ) {
      throw new InvalidArgumentError('secrets', 'expected an array of secret names');
    }
    if (opts.existingSecrets) {
      const missing = d.secrets.find((s) => !opts.existingSecrets?.includes(s as string));
      if (missing !== undefined)
        throw new InvalidArgumentError('secrets', `secret ${missing} does not exist`);
    }
  }
  if (
    d.constraints !== undefined &&
    (!Array.isArray(d.constraints) || d.constraints.some((c) => typeof c !== 'string'))
  ) {
    throw new InvalidArgumentError('constraints', 'expected an array of strings');
  }
  if (d.readOnlyRootFilesystem !== undefined && typeof d.readOnlyRootFilesystem !== 'boolean') {
    throw new InvalidArgumentError('readOnlyRootFilesystem', 'expected a boolean');
  }
  return d as unknown as FunctionDeployment;
}

/** The longest timer Node keeps: a longer one fires at once (and warns). */
export const MAX_DURATION_MS = 2 ** 31 - 1;

/**
 * Seconds (`30`, `1.5`) or a duration (`500ms`, `30s`, `2m`, `1h`) in ms; undefined if
 * unparseable, zero, or past MAX_DURATION_MS (a timer that long would fire at once).
 */
export function parseDurationMs(raw: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  if (!m) return undefined;
  const mult = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000;
  const ms = Math.round(Number(m[1]) * mult);
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}

function scaleLabel(labels: Record<string, string>, key: string): number | undefined {
  const raw = labels[key];
  if (raw === undefined) return undefined;
  if (!/^\d{1,6}$/.test(raw))
    throw new InvalidArgumentError(`labels.${key}`, `expected an integer, got '${raw}'`);
  return Number(raw);
}

function optionalString(d: Record<string, unknown>, field: string): void {
  if (d[field] !== undefined && typeof d[field] !== 'string') {
    throw new InvalidArgumentError(field, 'expected a string');
  }
}

function stringRecord(d: Record<string, unknown>, field: string): void {
  const v = d[field];
  if (v === undefined) return;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new InvalidArgumentError(field, 'expected an object of strings');
  }
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw new InvalidArgumentError(`${field}.${k}`, 'expected a string value');
  }
}
