import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FunctionDeployment } from '@floe/contracts';
import { parse as parseYaml } from 'yaml';
import {
  applyCommon,
  type DeployFlags,
  type DeployPlan,
  detectRuntime,
  functionName,
} from './deploy-plan.js';
import { UsageError } from './errors.js';

interface StackFunction {
  lang?: string;
  handler?: string;
  image?: string;
  fprocess?: string;
  namespace?: string;
  environment?: Record<string, unknown>;
  environment_file?: string[];
  secrets?: string[];
  labels?: Record<string, unknown>;
  annotations?: Record<string, unknown>;
  limits?: { memory?: string; cpu?: string };
  requests?: { memory?: string; cpu?: string };
}

const strings = (o: Record<string, unknown> | undefined): Record<string, string> | undefined =>
  o ? Object.fromEntries(Object.entries(o).map(([k, v]) => [k, String(v)])) : undefined;

/**
 * The functions of a faas-cli stack file (`stack.yml`), as Floe deployments. `lang` node* and
 * python* deploy the handler folder as code on Floe's node or python runtime (the OpenFaaS
 * templates' handler contracts are accepted there); `dockerfile`, or no `lang`, deploys `image`.
 * `${VAR}` and `${VAR:-default}` are expanded from the environment, as faas-cli does.
 */
export function planStack(file: string, flags: DeployFlags, only?: string): DeployPlan[] {
  let doc: { functions?: Record<string, StackFunction> };
  try {
    doc = parseYaml(expandEnv(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new UsageError(`${file}: ${(err as Error).message}`);
  }
  if (!doc?.functions || typeof doc.functions !== 'object')
    throw new UsageError(`${file}: no 'functions:' section`);
  const base = path.dirname(path.resolve(file));
  const plans: DeployPlan[] = [];
  for (const [key, fn] of Object.entries(doc.functions)) {
    if (only && key !== only) continue;
    const name = functionName(key);
    const d: FunctionDeployment = { service: name };
    const lang = (fn.lang ?? '').toLowerCase();
    let dir: string | undefined;
    if (lang.startsWith('node') || lang.startsWith('python')) {
      if (!fn.handler)
        throw new UsageError(`${file}: functions.${key}.handler: required for lang ${fn.lang}`);
      dir = path.resolve(base, fn.handler);
      d.runtime = lang.startsWith('node') ? 'node' : 'python';
      d.handler = d.runtime === 'node' ? nodeHandler(dir) : 'handler.handle';
    } else if (lang === 'dockerfile' || lang === '' || fn.image) {
      if (!fn.image)
        throw new UsageError(`${file}: functions.${key}.image: required for lang ${fn.lang ?? '(none)'}`);
      d.image = fn.image;
    } else {
      throw new UsageError(
        `${file}: functions.${key}.lang: ${fn.lang} has no Floe runtime (node*, python*, dockerfile)`,
      );
    }
    if (fn.fprocess) d.envProcess = fn.fprocess;
    if (fn.namespace) d.namespace = fn.namespace;
    const env: Record<string, string> = {};
    for (const f of fn.environment_file ?? []) Object.assign(env, environmentFile(path.resolve(base, f)));
    Object.assign(env, strings(fn.environment));
    if (Object.keys(env).length) d.envVars = env;
    if (fn.secrets?.length) d.secrets = fn.secrets.map(String);
    if (fn.labels) d.labels = strings(fn.labels);
    if (fn.annotations) d.annotations = strings(fn.annotations);
    if (fn.limits) d.limits = { ...fn.limits };
    if (fn.requests) d.requests = { ...fn.requests };
    applyCommon(d, flags);
    plans.push({ deployment: d, dir });
  }
  if (only && plans.length === 0) throw new UsageError(`${file}: no function named ${only}`);
  return plans;
}

function nodeHandler(dir: string): string {
  try {
    return detectRuntime(dir).handler;
  } catch {
    // OpenFaaS node templates keep the handler in handler.js beside a package.json.
    return 'handler.js';
  }
}

function environmentFile(file: string): Record<string, string> {
  let doc: { environment?: Record<string, unknown> };
  try {
    doc = parseYaml(expandEnv(readFileSync(file, 'utf8')));
  } catch (err) {
    throw new UsageError(`environment_file ${file}: ${(err as Error).message}`);
  }
  return strings(doc?.environment) ?? {};
}

export function expandEnv(text: string, env = process.env): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (_, k: string, def?: string) => env[k] || def || '',
  );
}
