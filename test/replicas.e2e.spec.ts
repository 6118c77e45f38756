import { afterEach, describe, expect, it } from 'vitest';
import { deploy, request, uniqueName, waitFor } from './support/client.js';

const created: string[] = [];
afterEach(async () => {
  for (const f of created.splice(0))
    await request('DELETE', '/system/functions', { body: { functionName: f }, auth: true });
});

interface Replicas {
  replicas: number;
  availableReplicas: number;
  invocationCount: number;
}

async function describeFn(name: string): Promise<Replicas> {
  const r = await request('GET', `/system/function/${name}`, { auth: true });
  expect(r.status, r.text).toBe(200);
  return r.json();
}

async function deployExec(envProcess: string, labels: Record<string, string> = {}): Promise<string> {
  const name = uniqueName('rep');
  created.push(name);
  const d = await deploy({ service: name, runtime: 'exec', envProcess, labels });
  expect(d.status, d.text).toBe(202);
  return name;
}

/** Waits until describe shows `available` instances (and as many replicas); generous timeout. */
function untilAvailable(name: string, available: number, timeoutMs = 60_000): Promise<Replicas> {
  return waitFor(
    `${name}: ${available} available`,
    async () => {
      const d = await describeFn(name);
      return d.availableReplicas === available && d.replicas === available ? d : undefined;
    },
    timeoutMs,
  );
}

describe('replicas as OpenFaaS clients see them', () => {
  it('starts min scale (1 by default) on deploy: describe shows it available with no call', async () => {
    const name = await deployExec('cat');
    const d = await untilAvailable(name, 1, 30_000);
    expect(d.invocationCount).toBe(0);
    const r = await request('POST', `/function/${name}`, { body: 'x' });
    expect(r.headers['x-floe-start']).toBe('warm');
  });

  it('shows 0 at once after a scale to 0, and a call after it scales from zero and gets 200', async () => {
    const name = await deployExec('cat');
    await untilAvailable(name, 1, 30_000);
    const s = await request('POST', `/system/scale-function/${name}`, {
      body: { serviceName: name, replicas: 0 },
      auth: true,
    });
    expect(s.status, s.text).toBe(202);
    expect(await describeFn(name)).toMatchObject({ replicas: 0, availableReplicas: 0 });
    const r = await request('POST', `/function/${name}`, { body: 'from zero' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('from zero');
    await untilAvailable(name, 1, 30_000);
  });

  it('scales to zero after com.openfaas.scale.zero-duration when the function opts in, and back on a call', async () => {
    const name = await deployExec('cat', {
      'com.openfaas.scale.zero': 'true',
      'com.openfaas.scale.zero-duration': '2s',
    });
    await untilAvailable(name, 1, 30_000);
    await untilAvailable(name, 0, 30_000);
    const r = await request('POST', `/function/${name}`, { body: 'again' });
    expect(r.status, r.text).toBe(200);
    expect(r.text).toBe('again');
  });

  it('rises to max scale under sustained load within 60 s, and falls back to min within 60 s after it ends', async () => {
    // Each call holds its instance 250 ms (max concurrency 1); 4 callers keep 3 instances busy.
    const name = await deployExec('sleep 0.25; cat', {
      'com.openfaas.scale.min': '1',
      'com.openfaas.scale.max': '3',
    });
    await untilAvailable(name, 1, 30_000);
    let running = true;
    const statuses = new Map<number, number>();
    // Bounded: loopback only, 4 callers, and never longer than 2 minutes whatever happens.
    const stopAt = Date.now() + 120_000;
    const caller = async () => {
      while (running && Date.now() < stopAt) {
        const r = await request('POST', `/function/${name}`, { body: 'load' });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
      }
    };
    const t0 = Date.now();
    const callers = Array.from({ length: 4 }, caller);
    try {
      await untilAvailable(name, 3, 60_000);
    } finally {
      running = false;
      await Promise.all(callers);
    }
    const t1 = Date.now();
    expect([...statuses.keys()]).toEqual([200]);
    await untilAvailable(name, 1, 60_000);
    // A figure for the reader, not an assertion: the windows above are the test.
    console.info(
      `load spec: max scale after ${t1 - t0} ms of load, min scale ${Date.now() - t1} ms after it`,
    );
  });
});
