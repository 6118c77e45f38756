import { afterEach, describe, expect, it } from 'vitest';
import { deploy, request, uniqueName } from './support/client.js';
import { fixtureImage, importImage } from './support/shared-fixtures.js';

const created: string[] = [];
afterEach(async () => {
  for (const f of created.splice(0))
    await request('DELETE', '/system/functions', { body: { functionName: f }, auth: true });
});

/** A FunctionDeployment as Go's encoding/json writes faas-provider's struct with unset fields. */
function goBody(service: string, image: string, envProcess: string) {
  return {
    service,
    image,
    namespace: '',
    envProcess,
    envVars: null,
    constraints: null,
    secrets: null,
    labels: null,
    annotations: null,
    limits: null,
    requests: null,
    readOnlyRootFilesystem: false,
  };
}

describe('the OpenFaaS API as Go clients use it', () => {
  it('deploys a body with nulls, runs it, and echoes only the fields that were set', async () => {
    const name = uniqueName('go-exec');
    created.push(name);
    // Floe's runtime field, so this runs without ../shared; the image variant is below.
    const d = await deploy({ ...goBody(name, '', 'tr a-z A-Z'), image: null, runtime: 'exec' });
    expect(d.status, d.text).toBe(202);
    const r = await request('POST', `/function/${name}`, { body: 'go' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('GO');
    const fn = (await request('GET', `/system/function/${name}`, { auth: true })).json();
    expect(fn).toMatchObject({ name, namespace: 'openfaas-fn', runtime: 'exec', envProcess: 'tr a-z A-Z' });
    for (const field of ['image', 'envVars', 'constraints', 'secrets', 'annotations', 'limits', 'requests'])
      expect(fn, field).not.toHaveProperty(field);
    expect(fn.labels).toEqual({ faas_function: name });
  });

  const alpine = fixtureImage('functions-alpine');
  if (!alpine) console.warn('skipping the Go-client image deploy: no functions/alpine fixture in ../shared');
  it.skipIf(!alpine)('deploys functions/alpine from a body exactly as the Go SDK encodes it', async () => {
    await importImage(alpine as string, 'functions/alpine:latest');
    const name = uniqueName('go-img');
    created.push(name);
    const d = await deploy(goBody(name, 'functions/alpine:latest', 'env'));
    expect(d.status, d.text).toBe(202);
    const r = await request('POST', `/function/${name}?testing=1`, { body: 'x' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toContain('Http_Method=POST');
    const fn = (await request('GET', `/system/function/${name}`, { auth: true })).json();
    expect(fn.image).toBe('functions/alpine:latest');
    expect(fn).not.toHaveProperty('envVars');
  });

  it('puts faas_function among the labels in list and describe, next to the labels sent', async () => {
    const name = uniqueName('labelled');
    created.push(name);
    const d = await deploy({ service: name, runtime: 'exec', envProcess: 'cat', labels: { team: 'a' } });
    expect(d.status, d.text).toBe(202);
    const one = (await request('GET', `/system/function/${name}`, { auth: true })).json();
    expect(one.labels).toEqual({ team: 'a', faas_function: name });
    const all = (await request('GET', '/system/functions', { auth: true })).json();
    expect(all.find((f: { name: string }) => f.name === name).labels).toEqual({
      team: 'a',
      faas_function: name,
    });
  });

  it('refuses an image Floe neither has nor can get with 400 naming image, and stores nothing', async () => {
    const name = uniqueName('noimg');
    const d = await deploy({ service: name, image: `busybox-${name}:1` });
    expect(d.status, d.text).toBe(400);
    expect(d.json().error).toMatchObject({ code: 'INVALID_ARGUMENT', field: 'image' });
    expect(d.json().error.message).toContain('/floe/images');
    expect((await request('GET', `/system/function/${name}`, { auth: true })).status).toBe(404);
    const list = (await request('GET', '/system/functions', { auth: true })).json();
    expect(list.map((f: { name: string }) => f.name)).not.toContain(name);
  });

  it('refuses a scale request without a replica count, naming replicas', async () => {
    const r = await request('POST', '/system/scale-function/any', {
      body: { serviceName: 'any', replicas: null },
      auth: true,
    });
    expect(r.status).toBe(400);
    expect(r.json().error.field).toBe('replicas');
  });
});
