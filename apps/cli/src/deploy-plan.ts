import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FunctionDeployment, RuntimeName } from '@floe/contracts';
import { UsageError } from './errors.js';

/** What `floe deploy` sends for one function: the deployment, and the folder to pack (if code). */
export interface DeployPlan {
  deployment: FunctionDeployment;
  /** Folder whose files become the code layer; absent for an image. */
  dir?: string;
}

export interface DeployFlags {
  name?: string;
  runtime?: string;
  handler?: string;
  image?: string;
  fprocess?: string;
  namespace?: string;
  env?: Record<string, string>;
  secrets?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  memory?: string;
  cpu?: string;
  timeout?: string;
  min?: string;
  max?: string;
}

/** DNS-1123, as function names must be: `My_Func` → `my-func`. */
export function functionName(raw: string): string {
  return raw
    .toLowerCase()
    .replace(/^@[^/]+\//, '')
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63);
}

/**
 * The runtime a folder asks for: `package.json` → node, `requirements.txt` or `handler.py` →
 * python; an image when `--image` is given.
 */
export function detectRuntime(dir: string): { runtime: RuntimeName; handler: string } {
  const has = (f: string) => existsSync(path.join(dir, f));
  if (has('package.json')) {
    let main: string | undefined;
    try {
      main = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).main;
    } catch (err) {
      throw new UsageError(`${path.join(dir, 'package.json')}: not JSON (${(err as Error).message})`);
    }
    const handler = main ?? ['index.js', 'handler.js', 'index.cjs'].find(has) ?? 'index.js';
    return { runtime: 'node', handler };
  }
  if (has('requirements.txt') || has('handler.py')) return { runtime: 'python', handler: 'handler.handle' };
  if (has('index.js') || has('handler.js'))
    return { runtime: 'node', handler: has('index.js') ? 'index.js' : 'handler.js' };
  throw new UsageError(
    `${dir}: cannot tell the runtime: no package.json (node), requirements.txt or handler.py (python); pass --runtime or --image`,
  );
}

export function planFromFolder(dir: string, f: DeployFlags): DeployPlan {
  const abs = path.resolve(dir);
  if (!f.image && !existsSync(abs)) throw new UsageError(`${dir}: no such folder`);
  const name = functionName(
    f.name ??
      (f.image ? f.image.split('/').pop()!.split(/[:@]/)[0]! : (packageName(abs) ?? path.basename(abs))),
  );
  if (!name) throw new UsageError('--name: cannot derive a function name; pass --name');
  const deployment: FunctionDeployment = { service: name };
  if (f.image) {
    deployment.image = f.image;
    if (f.fprocess) deployment.envProcess = f.fprocess;
  } else {
    const detected = detectRuntime(abs);
    deployment.runtime = (f.runtime as RuntimeName | undefined) ?? detected.runtime;
    deployment.handler =
      f.handler ?? (f.fprocess && deployment.runtime === 'exec' ? f.fprocess : detected.handler);
  }
  applyCommon(deployment, f);
  return { deployment, dir: f.image ? undefined : abs };
}

function packageName(dir: string): string | undefined {
  try {
    return JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8')).name;
  } catch {
    return undefined;
  }
}

/** Flags shared by folders and stack files: env, secrets, labels, limits, scale, timeout. */
export function applyCommon(d: FunctionDeployment, f: DeployFlags): void {
  if (f.namespace) d.namespace = f.namespace;
  if (f.env) d.envVars = { ...d.envVars, ...f.env };
  if (f.secrets?.length) d.secrets = [...new Set([...(d.secrets ?? []), ...f.secrets])];
  const labels = { ...d.labels, ...f.labels };
  if (f.min !== undefined) labels['com.openfaas.scale.min'] = wholeNumber(f.min, 'min');
  if (f.max !== undefined) labels['com.openfaas.scale.max'] = wholeNumber(f.max, 'max');
  if (Object.keys(labels).length) d.labels = labels;
  const annotations = { ...d.annotations, ...f.annotations };
  if (f.timeout) annotations['com.floe.timeout'] = f.timeout;
  if (Object.keys(annotations).length) d.annotations = annotations;
  if (f.memory || f.cpu)
    d.limits = { ...d.limits, ...(f.memory ? { memory: f.memory } : {}), ...(f.cpu ? { cpu: f.cpu } : {}) };
}

function wholeNumber(v: string, flag: string): string {
  if (!/^\d+$/.test(v)) throw new UsageError(`--${flag} ${v}: expected a whole number`);
  return v;
}
