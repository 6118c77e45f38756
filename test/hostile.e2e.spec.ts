import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codeArchive, deploy, floe, request, uniqueName } from './support/client.js';

const HOSTILE_PY = readFileSync(path.join(import.meta.dirname, 'support/hostile.py'), 'utf8');
const ECHO = { 'index.js': 'module.exports = async (event) => ({ statusCode: 200, body: event.body });' };

/**
 * Hostile functions: each attack gets a clear answer from the kernel or the platform, while a
 * bystander function in another namespace is called all along and must keep answering 200.
 * Its latency is measured and logged, never asserted (speed belongs to the bench).
 */
describe('hostile functions are contained while a bystander keeps answering', () => {
  const nsA = uniqueName('hostile');
  const nsB = uniqueName('victim');
  const attacker = uniqueName('attacker');
  const victim = uniqueName('victim');
  const bystander = uniqueName('bystander');
  const spinner = uniqueName('spinner');
  const forker = uniqueName('forker');
  const secretName = uniqueName('token');
  const secretValue = `secret-${Math.random().toString(36).slice(2)}-value`;
  const codeMarker = `code-marker-${Math.random().toString(36).slice(2)}`;
  const latencies: number[] = [];
  const failures: string[] = [];
  let running = true;
  let loop: Promise<void> | undefined;

  const attack = async (body: string, fn = `${attacker}.${nsA}`) => {
    const r = await request('POST', `/function/${fn}`, { body, headers: { 'content-type': 'text/plain' } });
    return r;
  };
  const attackJson = async (body: string, fn?: string) => {
    const r = await attack(body, fn);
    expect(r.status, r.text).toBe(200);
    return r.json();
  };

  beforeAll(async () => {
    const deployed = await Promise.all([
      deploy({
        service: attacker,
        namespace: nsA,
        runtime: 'python',
        handler: 'handler.handle',
        code: codeArchive({ 'handler.py': HOSTILE_PY }),
        limits: { memory: '128Mi' },
        annotations: { 'com.floe.timeout': '30' },
      }),
      // Room for 512 paused children (page tables, copied pages): the pids limit must come first.
      deploy({
        service: forker,
        namespace: nsA,
        runtime: 'python',
        handler: 'handler.handle',
        code: codeArchive({ 'handler.py': HOSTILE_PY }),
        limits: { memory: '512Mi' },
        annotations: { 'com.floe.timeout': '30' },
      }),
      deploy({
        service: spinner,
        namespace: nsA,
        runtime: 'python',
        handler: 'handler.handle',
        code: codeArchive({ 'handler.py': HOSTILE_PY }),
        annotations: { 'com.floe.timeout': '1' },
      }),
      deploy({
        service: bystander,
        namespace: nsB,
        runtime: 'node',
        handler: 'index.js',
        code: codeArchive(ECHO),
      }),
    ]);
    for (const d of deployed) expect(d.status, d.text).toBeLessThan(300);
    const s = await request('POST', `/system/secrets?namespace=${nsB}`, {
      body: { name: secretName, value: secretValue },
      auth: true,
    });
    expect(s.status, s.text).toBe(201);
    const v = await deploy({
      service: victim,
      namespace: nsB,
      runtime: 'python',
      handler: 'handler.handle',
      code: codeArchive({ 'handler.py': HOSTILE_PY, 'marker.txt': codeMarker }),
      secrets: [secretName],
    });
    expect(v.status, v.text).toBeLessThan(300);
    // Both warm before the attacks start, so the bystander's figures are warm calls.
    expect((await request('POST', `/function/${bystander}.${nsB}`, { body: 'up' })).status).toBe(200);
    expect((await attack('uid_map')).status).toBe(200);
    loop = (async () => {
      while (running) {
        const t0 = performance.now();
        const r = await request('POST', `/function/${bystander}.${nsB}`, { body: 'ping' }).catch((e) => ({
          status: 0,
          text: String(e),
        }));
        latencies.push(performance.now() - t0);
        if (r.status !== 200) failures.push(`${r.status} ${r.text.slice(0, 200)}`);
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
  });

  afterAll(async () => {
    running = false;
    await loop;
    const sorted = [...latencies].sort((a, b) => a - b);
    const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]?.toFixed(1);
    console.log(
      `hostile suite: bystander answered ${latencies.length - failures.length}/${latencies.length} calls, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, max ${p(1)} ms`,
    );
    for (const [name, ns] of [
      [attacker, nsA],
      [spinner, nsA],
      [forker, nsA],
      [victim, nsB],
      [bystander, nsB],
    ])
      await request('DELETE', `/system/functions?namespace=${ns}`, {
        body: { functionName: name },
        auth: true,
      }).catch(() => {});
  });

  it('root inside maps to an unprivileged host range, a different one per tenant', async () => {
    const a = await attackJson('uid_map');
    const b = await attackJson('uid_map', `${victim}.${nsB}`);
    const [insideA, hostA, sizeA] = a.uid_map.map(Number);
    const [, hostB, sizeB] = b.uid_map.map(Number);
    expect(a.uid).toBe(0);
    expect(insideA).toBe(0);
    expect(hostA).toBeGreaterThanOrEqual(65536);
    expect(sizeA).toBeLessThan(4294967295);
    // The two ranges do not overlap.
    expect(hostA + sizeA <= hostB || hostB + sizeB <= hostA).toBe(true);
  });

  it('a fork bomb hits the pids limit (EAGAIN) and the function answers', async () => {
    const r = await attackJson('fork_bomb', `${forker}.${nsA}`);
    expect(r.failure).toBe('EAGAIN');
    expect(r.forked).toBeLessThan(5000);
  });

  it('a memory bomb is OOMKilled with a clear error, and the function answers again', async () => {
    const r = await attack('memory_bomb');
    expect(r.status).toBeGreaterThanOrEqual(500);
    expect(r.text).toMatch(/OOMKilled/);
    expect((await attack('uid_map')).status).toBe(200);
  });

  it('a disk fill stops at the writable layer cap (ENOSPC)', async () => {
    const r = await attackJson('disk_fill');
    expect(r.failure).toBe('ENOSPC');
  });

  it('a spin past the timeout gets 504, then the function answers again', async () => {
    const r = await attack('spin', `${spinner}.${nsA}`);
    expect(r.status).toBe(504);
    expect(r.text).toMatch(/timed out/);
    expect((await attack('spin:again', `${spinner}.${nsA}`)).status).toBe(200);
  });

  it('mount is refused', async () => {
    const r = await attackJson('mount');
    for (const fs of ['tmpfs', 'proc', 'ext4']) expect(r[fs]).toMatch(/^E(PERM|ACCES|NOENT|NOTBLK)$/);
  });

  it('mknod of a block device is refused and no block device can be read', async () => {
    const r = await attackJson('mknod');
    expect(r.mknod.ok).toBe(false);
    expect(r.mknod.error).toMatch(/^E(PERM|ACCES)$/);
    for (const [dev, res] of Object.entries(r.reads as Record<string, { ok: boolean }>))
      expect(res.ok, `read ${dev}`).toBe(false);
  });

  it('ptrace of another process is refused, and no host process is visible', async () => {
    const r = await attackJson('ptrace');
    expect(r.init).toMatch(/^E(PERM|ACCES)$/);
    expect(r.sibling).toMatch(/^E(PERM|ACCES)$/);
    // Only the container's own processes: floe-init as 1, the runtime, the short-lived child.
    expect(Math.max(...r.pids)).toBeLessThan(100);
  });

  it('writes to /proc/sys, /proc/sysrq-trigger and /sys are refused, and reboot too', async () => {
    const r = await attackJson('proc_sys_writes');
    for (const [target, res] of Object.entries(r as Record<string, { ok?: boolean; error?: string }>)) {
      if (target === 'reboot') continue;
      expect(res.ok, target).toBe(false);
      expect(res.error, target).toMatch(/^E(ROFS|PERM|ACCES|NOENT)$/);
    }
    expect(r.reboot).toMatch(/^E(PERM|INVAL)$/);
  });

  it('no platform port and no Redis port answers from inside a function', async () => {
    const f = floe();
    const redisPort = Number(new URL(f.redisUrl).port);
    const hosts = Object.values(os.networkInterfaces())
      .flat()
      .filter((i) => i && i.family === 'IPv4' && !i.internal)
      .map((i) => i!.address);
    const ports = [...f.platformPorts, redisPort];
    const r = await attackJson(`connect:${JSON.stringify({ ports, hosts })}`);
    expect(Object.keys(r).length).toBe(ports.length * (hosts.length + 1));
    for (const [target, res] of Object.entries(r)) expect(res, target).not.toBe('connected');
  });

  it("cannot read another function's code or secrets; its own secret is 0400 and its user's", async () => {
    const own = await attackJson(`own_secret:${secretName}`, `${victim}.${nsB}`);
    expect(own).toMatchObject({ mode: '0o400', uid: 0, value: secretValue });
    const code = await attackJson(`snoop:${codeMarker}`);
    expect(code.seen).toBeGreaterThan(100);
    expect(code.found).toEqual([]);
    const secret = await attackJson(`snoop:${secretValue}`);
    expect(secret.found).toEqual([]);
  });

  it('the bystander answered 200 throughout', () => {
    expect(latencies.length).toBeGreaterThan(10);
    expect(failures).toEqual([]);
  });
});
