// Case 1, the kernel floor: thaw a frozen container, one 1-byte round trip over a unix socket
// to its static C echo server, freeze it again — straight through the runtime lib, no agent.
// Beside it, the same with a bare Node echo server in the container: what a node process
// adds to that cycle when it is the one thawed, with nothing of Floe in it.
import { copyFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
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

// The Node echo: the host's node and libraries, bound read-only.
const NODE_ECHO =
  "require('node:net').createServer((c) => c.on('data', (d) => c.write(d))).listen('/sock/echo.sock');";
const HOST_DIRS = ['usr', 'lib', 'lib64'];

/**
 * A frozen echo container and its socket (`node`: a Node echo server, else the C one). `cycle()` is one timed floor loop: thaw, round
 * trip, freeze. Kept open beside the platform, its cycles interleave with the agent's calls
 * (warm.mjs), so both see the same moment of this VM's noisy neighbours.
 */
export async function openFloor({ work, log, name = 'floor', node = false }) {
  const { Runtime, defaultSpec, makeBusyboxRootfs } = await import(
    path.join(root, 'libs/runtime/dist/index.js')
  );
  const echo = compile('echo', { static: true });
  const sockDir = path.join(work, `${name}-sock`);
  mkdirSync(sockDir, { recursive: true });
  const rootfs = makeBusyboxRootfs(['sh']);
  copyFileSync(echo, path.join(rootfs, 'bin/echo-srv'));
  mkdirSync(path.join(rootfs, 'sock'));
  const parent = `floe-bench-${name}-${process.pid}`;
  const rt = new Runtime({ stateDir: path.join(work, `${name}-state`), cgroupParent: parent });
  const spec = defaultSpec({
    rootfs,
    args: node ? ['/usr/bin/node', '/echo.js'] : ['/bin/echo-srv', '/sock/echo.sock'],
  });
  spec.mounts.push({ destination: '/sock', type: 'bind', source: sockDir, options: ['rbind', 'rw'] });
  if (node) {
    writeFileSync(path.join(rootfs, 'echo.js'), NODE_ECHO);
    spec.process.env = ['PATH=/usr/bin:/bin'];
    for (const d of HOST_DIRS) {
      mkdirSync(path.join(rootfs, d));
      spec.mounts.push({ destination: `/${d}`, type: 'bind', source: `/${d}`, options: ['rbind', 'ro'] });
    }
  }
  let sock;
  let c;
  const close = async () => {
    sock?.destroy();
    await c?.thaw().catch(() => {});
    await rt.delete(name).catch(() => {});
    rt.close();
    removeCgroup(parent);
    rmSync(rootfs, { recursive: true, force: true });
  };
  const unregister = onInterrupt(close);
  try {
    c = await rt.run(name, spec);
    const file = path.join(sockDir, 'echo.sock');
    for (let i = 0; !existsSync(file); i++) {
      if (i > 300) throw new Error(`${name}: echo server did not create its socket`);
      await sleep(10);
    }
    sock = net.connect(file);
    await new Promise((r, j) => sock.once('connect', r).once('error', j));
    sock.on('error', (e) => log(`floor: socket error ${e.message}`));
    await c.freeze();
  } catch (e) {
    unregister();
    await close();
    throw e;
  }
  return {
    freezer: c.cgroup?.freezer?.version,
    async cycle() {
      const t0 = performance.now();
      await c.thaw();
      const t1 = performance.now();
      await roundTrip(sock);
      const t2 = performance.now();
      await c.freeze();
      const t3 = performance.now();
      return { total: t3 - t0, thaw: t1 - t0, rtt: t2 - t1, freeze: t3 - t2 };
    },
    async close() {
      unregister();
      await close();
    },
  };
}

export async function floor({ work, n, log }) {
  log(`floor: thaw → 1-byte unix socket round trip → freeze, ${n} runs`);
  const rig = await openFloor({ work, log });
  try {
    const total = [];
    const thaw = [];
    const rtt = [];
    const freeze = [];
    const warm = Math.max(10, n / 10);
    for (let i = 0; i < n + warm; i++) {
      const r = await rig.cycle();
      if (i < warm) continue;
      total.push(r.total);
      thaw.push(r.thaw);
      rtt.push(r.rtt);
      freeze.push(r.freeze);
    }
    // The same cycle after 120 ms idle, as the platform's warm case sees it (CPU idle exit
    // included), in blocks of 10 alternating with the Node echo's.
    const node = await openFloor({ work, log, name: 'floor-node', node: true });
    const paused = [];
    const nodePaused = [];
    const nodeWarm = [];
    try {
      for (let i = 0; i < warm; i++) await node.cycle();
      for (let i = 0; i < n; i++) nodeWarm.push((await node.cycle()).total);
      for (let done = 0; done < Math.min(Math.round(n / 5), 100); done += 10)
        for (const [r, into] of [
          [rig, paused],
          [node, nodePaused],
        ])
          for (let i = 0; i < 10; i++) {
            await sleep(120);
            into.push((await r.cycle()).total);
          }
    } finally {
      await node.close();
    }
    return {
      floor_warm_ms: summary(total),
      floor_after_idle_ms: summary(paused),
      floor_node_warm_ms: summary(nodeWarm),
      floor_node_after_idle_ms: summary(nodePaused),
      floor_parts_ms: {
        thaw: summary(thaw),
        round_trip: summary(rtt),
        freeze: summary(freeze),
        freezer: rig.freezer,
      },
    };
  } finally {
    await rig.close();
  }
}
