import type { FunctionDeployment, FunctionVersion } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { imageProcess } from './image-process.js';
import type { ImageRunConfig } from './ports.js';

function version(dep: Partial<FunctionDeployment>, extra: Partial<FunctionVersion> = {}): FunctionVersion {
  return {
    name: 'f',
    namespace: 'openfaas-fn',
    version: 1,
    createdAt: '2026-01-01T00:00:00Z',
    deployment: { service: 'f', image: 'img:1', ...dep },
    runtime: 'image',
    image: 'img:1',
    memoryBytes: 128 << 20,
    timeoutMs: 30_000,
    maxConcurrency: 1,
    minScale: 0,
    maxScale: 20,
    env: { ...(dep.envVars ?? {}) },
    secrets: [],
    ...extra,
  };
}

const CLASSIC: ImageRunConfig = { user: '1000', env: ['PATH=/usr/bin:/bin'], cmd: ['fwatchdog'] };
const REDIRECTOR: ImageRunConfig = {
  user: 'app',
  workingDir: '/home/app',
  cmd: ['./fwatchdog'],
  env: ['PATH=/bin', 'fprocess=./handler', 'mode=http', 'upstream_url=http://127.0.0.1:8082'],
};

describe('imageProcess', () => {
  it("runs an image's Cmd as a server on 8080, as the image's user, with fprocess from envProcess", () => {
    expect(imageProcess(version({ envProcess: 'sha512sum', envVars: { A: '1' } }), CLASSIC)).toEqual({
      mode: 'server',
      argv: ['fwatchdog'],
      handler: 'fwatchdog',
      env: { PATH: '/usr/bin:/bin', A: '1', fprocess: 'sha512sum' },
      httpPort: 8080,
      user: '1000',
    });
  });

  it("keeps the image's own fprocess unless envProcess is given, and lets envVars override its Env", () => {
    const p = imageProcess(
      version({ envVars: { destination: 'https://x', mode: 'http', PATH: '/p' } }),
      REDIRECTOR,
    );
    expect(p).toMatchObject({
      mode: 'server',
      argv: ['./fwatchdog'],
      user: 'app',
      httpPort: 8080,
      waitPorts: [8082],
    });
    expect(p.env).toEqual({
      PATH: '/p',
      fprocess: './handler',
      mode: 'http',
      upstream_url: 'http://127.0.0.1:8082',
      destination: 'https://x',
    });
  });

  it('joins Entrypoint and Cmd, and quotes the display command', () => {
    const p = imageProcess(version({}), { entrypoint: ['/bin/sh', '-c'], cmd: ['echo hi; cat'] });
    expect(p).toMatchObject({
      argv: ['/bin/sh', '-c', 'echo hi; cat'],
      handler: `/bin/sh -c 'echo hi; cat'`,
    });
  });

  it('takes the port from the annotation, else the port env var, else the image label', () => {
    const img = { ...CLASSIC, labels: { 'com.floe.http-port': '9000' } };
    expect(imageProcess(version({}), img)).toMatchObject({ httpPort: 9000 });
    expect(imageProcess(version({ envVars: { port: '8081' } }), img)).toMatchObject({ httpPort: 8081 });
    expect(
      imageProcess(
        version({ envVars: { port: '8081' }, annotations: { 'com.floe.http-port': '8082' } }),
        img,
      ),
    ).toMatchObject({ httpPort: 8082 });
  });

  it('names the field of a port that is not one', () => {
    expect(() => imageProcess(version({ annotations: { 'com.floe.http-port': 'http' } }), CLASSIC)).toThrow(
      /annotations\.com\.floe\.http-port: expected a TCP port/,
    );
    expect(() => imageProcess(version({ envVars: { port: '70000' } }), CLASSIC)).toThrow(/envVars\.port/);
  });

  it('runs an image without Entrypoint or Cmd through the exec watchdog around envProcess', () => {
    expect(imageProcess(version({ envProcess: 'tr a-z A-Z' }), { env: ['G=hi'] })).toEqual({
      mode: 'exec',
      handler: 'tr a-z A-Z',
      env: { G: 'hi', fprocess: 'tr a-z A-Z' },
    });
    expect(imageProcess(version({}), undefined)).toMatchObject({ mode: 'exec', handler: 'cat' });
  });

  it('serves envProcess over HTTP for an image without a Cmd that declares an HTTP port', () => {
    const p = imageProcess(
      version({ envProcess: 'httpd -f -p 8080', annotations: { 'com.floe.http-port': '8080' } }),
      {},
    );
    expect(p).toMatchObject({ mode: 'server', argv: [], handler: 'httpd -f -p 8080', httpPort: 8080 });
  });
});
