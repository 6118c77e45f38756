// Case 1, the kernel floor: thaw a frozen container, one 1-byte round trip over a unix socket
// to its static C echo server, freeze it again — straight through the runtime lib, no agent.
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { root } from '../scripts/lib/setup.mjs';
import { compile, onInterrupt, removeCgroup, sleep, summary } from './stats.mjs';

function roundTrip(sock) {
  return new Promise((resolve) => {
    sock.once('data', () => resolve());
    sock.write('x');
  });
}

export async function floor({ work, n, log }) {
  const { Runtime, defaultSpec, makeBusyboxRootfs } = await import(
    path.join(root, 'libs/runtime/dist/index.js')
  );
  const echo = compile('echo', { static: true });
  const rootfs = makeBusyboxRootfs(['sh']);
  copyFileSync(echo, path.join(rootfs, 'bin/echo-srv'));
  mkdirSync(path.join(rootfs, 'sock'));
  const sockDir = path.join(work, 'floor-sock');
  mkdirSync(sockDir, { recursive: true });
  const parent = `floe-bench-floor-${process.pid}`;
  const rt = new Runtime({ stateDir: path.join(work, 'floor-state'), cgroupParent: parent });
  const spec = defaultSpec({ rootfs, args: ['/bin/echo-srv', '/sock/echo.sock'] });
  spec.mounts.push({ destination: '/sock', type: 'bind', source: sockDir, options: ['rbind', 'rw'] });
  let sock;
  const teardown = async () => {
    sock?.destroy();
    await rt.delete('floor').catch(() => {});
    rt.close();
    removeCgroup(parent);
    rmSync(rootfs, { recursive: true, force: true });
  };
  const unregister = onInterrupt(teardown);
  log(`floor: thaw → 1-byte unix socket round trip → freeze, ${n} runs`);
  try {
    const c = await rt.run('floor', spec);
    const file = path.join(sockDir, 'echo.sock');
    for (let i = 0; !existsSync(file); i++) {
      if (i > 200) throw new Error('floor: echo server did not create its socket');
      await sleep(10);
    }
    sock = net.connect(file);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    sock.on('error', (e) => log(`floor: socket error ${e.message}`));
    const total = [];
    const thaw = [];
    const rtt = [];
    const freeze = [];
    const warm = Math.max(10, n / 10);
    await c.freeze();
    for (let i = 0; i < n + warm; i++) {
      const t0 = performance.now();
      await c.thaw();
      const t1 = performance.now();
      await roundTrip(sock);
      const t2 = performance.now();
      await c.freeze();
      const t3 = performance.now();
      if (i < warm) continue;
      total.push(t3 - t0);
      thaw.push(t1 - t0);
      rtt.push(t2 - t1);
      freeze.push(t3 - t2);
    }
    // The same cycle after 120 ms idle, as the platform's warm case sees it (CPU idle exit included).
    const paused = [];
    for (let i = 0; i < Math.min(Math.round(n / 5), 100); i++) {
      await sleep(120);
      const t0 = performance.now();
      await c.thaw();
      await roundTrip(sock);
      await c.freeze();
      paused.push(performance.now() - t0);
    }
    const freezer = c.cgroup?.freezer?.version;
    await c.thaw();
    return {
      floor_warm_ms: summary(total),
      floor_after_idle_ms: summary(paused),
      floor_parts_ms: { thaw: summary(thaw), round_trip: summary(rtt), freeze: summary(freeze), freezer },
    };
  } finally {
    unregister();
    await teardown();
  }
}
