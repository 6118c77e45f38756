import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { detectRuntime, functionName } from './deploy-plan.js';
import { expandEnv, planStack } from './stack-file.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-cli-stack-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(rel: string, text: string): string {
  const p = path.join(dir, rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, text);
  return p;
}

describe('planStack', () => {
  it('maps a faas-cli stack file to deployments: node*, python* and images, env files, limits', () => {
    write('fn-a/handler.js', 'module.exports = () => 1');
    write('fn-b/handler.py', 'def handle(e, c): pass');
    write('env.yml', 'environment:\n  FROM_FILE: f\n  SHARED: file\n');
    const file = write(
      'stack.yml',
      `provider: { name: openfaas }
functions:
  Fn_A:
    lang: node20
    handler: ./fn-a
    image: x/a:1
    environment: { SHARED: inline, N: 3 }
    environment_file: [env.yml]
    secrets: [s1]
    labels: { com.openfaas.scale.min: 2 }
    limits: { memory: 64Mi }
  fn-b:
    lang: python3-http
    handler: ./fn-b
  img:
    lang: dockerfile
    image: functions/alpine:latest
    fprocess: env
`,
    );
    const plans = planStack(file, { namespace: 'team' });
    expect(plans.map((p) => p.deployment)).toEqual([
      {
        service: 'fn-a',
        runtime: 'node',
        handler: 'handler.js',
        namespace: 'team',
        envVars: { FROM_FILE: 'f', SHARED: 'inline', N: '3' },
        secrets: ['s1'],
        labels: { 'com.openfaas.scale.min': '2' },
        limits: { memory: '64Mi' },
      },
      { service: 'fn-b', runtime: 'python', handler: 'handler.handle', namespace: 'team' },
      { service: 'img', image: 'functions/alpine:latest', envProcess: 'env', namespace: 'team' },
    ]);
    expect(plans[0]!.dir).toBe(path.join(dir, 'fn-a'));
    expect(plans[2]!.dir).toBeUndefined();
    expect(planStack(file, {}, 'fn-b')).toHaveLength(1);
  });

  it('names the field a stack file lacks', () => {
    const file = write('bad.yml', 'functions:\n  x:\n    lang: node18\n');
    expect(() => planStack(file, {})).toThrow(/functions\.x\.handler: required for lang node18/);
    const ruby = write('ruby.yml', 'functions:\n  x:\n    lang: ruby\n    handler: .\n');
    expect(() => planStack(ruby, {})).toThrow(/functions\.x\.lang: ruby has no Floe runtime/);
  });

  it('expands ${VAR} and ${VAR:-default} as faas-cli does', () => {
    expect(expandEnv('a ${X} ${Y:-dflt} ${X:-no}', { X: 'x' })).toBe('a x dflt x');
  });
});

describe('detectRuntime and functionName', () => {
  it('tells node from package.json, python from requirements.txt or handler.py', () => {
    write('n/package.json', JSON.stringify({ main: 'main.js' }));
    write('p/requirements.txt', '');
    expect(detectRuntime(path.join(dir, 'n'))).toEqual({ runtime: 'node', handler: 'main.js' });
    expect(detectRuntime(path.join(dir, 'p'))).toEqual({ runtime: 'python', handler: 'handler.handle' });
    mkdirSync(path.join(dir, 'empty'));
    expect(() => detectRuntime(path.join(dir, 'empty'))).toThrow(/cannot tell the runtime/);
    expect(functionName('@scope/My_Func')).toBe('my-func');
  });
});
