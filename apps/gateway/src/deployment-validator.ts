import {
  FUNCTION_NAME_RE,
  type FunctionDeployment,
  InvalidArgumentError,
  LABEL_SCALE_MAX,
  LABEL_SCALE_MIN,
  parseBytes,
  RUNTIMES,
  type RuntimeName,
} from '@floe/contracts';

// Until libs/contracts has a shared validate-deployment.ts (its author plans one), the gateway
// validates here; the checks are the ones a user can fix from a 400 naming the field.

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Checks a FunctionDeployment as sent and returns the very same object: fields are stored
 * and echoed as sent, so nothing is added, dropped or normalized here (unknown OpenFaaS
 * fields pass through untouched). Throws InvalidArgumentError naming the first bad field.
 */
export function validateDeployment(body: unknown): FunctionDeployment {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw new InvalidArgumentError('body', 'expected a JSON object (a FunctionDeployment)');
  const d = body as Record<string, unknown>;
  if (typeof d.service !== 'string' || d.service === '')
    throw new InvalidArgumentError('service', 'required');
  if (!FUNCTION_NAME_RE.test(d.service))
    throw new InvalidArgumentError(
      'service',
      `'${d.service}' is not a DNS-1123 label (a-z, 0-9, '-', max 63)`,
    );
  optionalString(d, 'image');
  optionalString(d, 'namespace');
  if (typeof d.namespace === 'string' && d.namespace !== '' && !FUNCTION_NAME_RE.test(d.namespace))
    throw new InvalidArgumentError('namespace', `'${d.namespace}' is not a DNS-1123 label`);
  optionalString(d, 'envProcess');
  optionalString(d, 'handler');
  stringMap(d, 'envVars');
  stringMap(d, 'labels');
  stringMap(d, 'annotations');
  stringList(d, 'constraints');
  stringList(d, 'secrets');
  resources(d, 'limits');
  resources(d, 'requests');
  if (d.readOnlyRootFilesystem !== undefined && typeof d.readOnlyRootFilesystem !== 'boolean')
    throw new InvalidArgumentError('readOnlyRootFilesystem', 'expected true or false');
  if (d.runtime !== undefined && !RUNTIMES.includes(d.runtime as RuntimeName))
    throw new InvalidArgumentError(
      'runtime',
      `expected one of ${RUNTIMES.join(', ')}, got '${String(d.runtime)}'`,
    );
  if (d.code !== undefined) {
    if (typeof d.code !== 'string' || d.code === '' || !BASE64_RE.test(d.code))
      throw new InvalidArgumentError('code', 'expected a base64 archive (zip, tar or tar.gz)');
    if (d.runtime === undefined || d.runtime === 'image')
      throw new InvalidArgumentError('runtime', 'required with code: one of node, python, exec');
  }
  if (!d.image && d.code === undefined)
    throw new InvalidArgumentError('image', 'required unless code is given (with runtime and handler)');
  const labels = d.labels as Record<string, string> | undefined;
  for (const key of [LABEL_SCALE_MIN, LABEL_SCALE_MAX]) {
    const v = labels?.[key];
    if (v !== undefined && !/^\d+$/.test(v))
      throw new InvalidArgumentError(`labels.${key}`, 'expected an integer');
  }
  return d as unknown as FunctionDeployment;
}

function optionalString(d: Record<string, unknown>, key: string): void {
  if (d[key] !== undefined && typeof d[key] !== 'string')
    throw new InvalidArgumentError(key, 'expected a string');
}

function stringMap(d: Record<string, unknown>, key: string): void {
  const v = d[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError(key, 'expected an object of strings');
  for (const [k, x] of Object.entries(v))
    if (typeof x !== 'string') throw new InvalidArgumentError(`${key}.${k}`, 'expected a string');
}

function stringList(d: Record<string, unknown>, key: string): void {
  const v = d[key];
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) throw new InvalidArgumentError(key, 'expected an array of strings');
  v.forEach((x, i) => {
    if (typeof x !== 'string') throw new InvalidArgumentError(`${key}[${i}]`, 'expected a string');
  });
}

function resources(d: Record<string, unknown>, key: string): void {
  const v = d[key];
  if (v === undefined || v === null) return;
  if (typeof v !== 'object' || Array.isArray(v))
    throw new InvalidArgumentError(key, 'expected { memory?, cpu? }');
  const r = v as Record<string, unknown>;
  if (r.memory !== undefined && (typeof r.memory !== 'string' || parseBytes(r.memory) === undefined))
    throw new InvalidArgumentError(`${key}.memory`, `expected a size like 128Mi, got '${String(r.memory)}'`);
  if (r.cpu !== undefined && (typeof r.cpu !== 'string' || !/^\d+(\.\d+)?m?$/.test(r.cpu)))
    throw new InvalidArgumentError(`${key}.cpu`, `expected cores like 0.5 or 500m, got '${String(r.cpu)}'`);
}
