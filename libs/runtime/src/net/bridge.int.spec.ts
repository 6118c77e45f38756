import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultSpec } from '../spec/defaults.js';
import { capture, testEnv } from '../testing/fixtures.js';
import { BridgeNetwork } from './bridge.js';

const name = `flt${Math.random().toString(36).slice(2, 8)}`;
const second = 100 + Math.floor(Math.random() * 100);
let env: ReturnType<typeof testEnv>;
const ipForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');
beforeAll(() => {
  env = testEnv({ bridge: { name, subnet: `10.${second}.0.0` } });
});
afterAll(async () => {
  await env.cleanup();
  const rt = testEnv({ bridge: { name, subnet: `10.${second}.0.0` } });
  rt.rt.bridge.destroyBridge();
  await rt.cleanup();
  fs.writeFileSync('/proc/sys/net/ipv4/ip_forward', ipForward);
});

describe('bridge networking (rtnetlink)', () => {
  it('gives the container eth0 on the bridge with a leased address, a default route, and reaches the gateway', async () => {
    const out = capture();
    const spec = defaultSpec({
      rootfs: env.rootfs,
      args: [
        '/bin/sh',
        '-c',
        'ip -4 addr show eth0 | grep inet; ip route | grep default; ping -c1 -W2 10.' +
          second +
          '.0.1 >/dev/null && echo ping-ok',
      ],
    });
    const c = await env.rt.run(env.id(), spec, {
      network: 'bridge',
      stdio: { stdout: out.fd, stderr: out.fd },
    });
    out.closeWrite();
    const text = await out.text();
    expect(await c.wait()).toEqual({ reason: 'exited', code: 0 });
    expect(text).toContain(`inet 10.${second}.0.2/16`);
    expect(text).toContain(`default via 10.${second}.0.1 dev eth0`);
    expect(text).toContain('ping-ok');
    const veth = BridgeNetwork.vethName(c.id);
    await env.rt.delete(c.id);
    expect(fs.existsSync(`/sys/class/net/${veth}`)).toBe(false);
    expect(fs.readdirSync(`${env.stateDir}/ipam/${name}`)).toEqual([]);
  });

  it('leases distinct addresses to concurrent containers and the host reaches them', async () => {
    const spec = defaultSpec({ rootfs: env.rootfs, args: ['/bin/sleep', '100'] });
    const a = await env.rt.run(env.id(), spec, { network: 'bridge' });
    const b = await env.rt.run(env.id(), spec, { network: 'bridge' });
    const leases = fs.readdirSync(`${env.stateDir}/ipam/${name}`).sort();
    expect(leases).toEqual([`10.${second}.0.2`, `10.${second}.0.3`]);
    expect(fs.readFileSync(`/sys/class/net/${BridgeNetwork.vethName(a.id)}/master/ifindex`, 'utf8')).toBe(
      fs.readFileSync(`/sys/class/net/${name}/ifindex`, 'utf8'),
    );
    await env.rt.delete(a.id);
    await env.rt.delete(b.id);
    expect(fs.readdirSync(`${env.stateDir}/ipam/${name}`)).toEqual([]);
  });
});

describe('bridge NAT (nf_tables)', () => {
  const nftBin = ['/usr/sbin/nft', '/sbin/nft'].find((p) => fs.existsSync(p));
  if (!nftBin)
    console.warn(
      '[runtime] SKIP bridge NAT: no nft binary to read the ruleset back (apt-get install nftables)',
    );
  it.skipIf(!nftBin)(
    `installs a masquerade rule for the subnet${nftBin ? '' : ' (SKIPPED: no nft binary to read the ruleset back)'}`,
    async () => {
      env.rt.bridge.ensureBridge();
      const { execFileSync } = await import('node:child_process');
      // Reading the ruleset back with nft is verification only; the rule was written over netlink.
      const out = execFileSync(nftBin!, ['list', 'table', 'ip', env.rt.bridge.natTable], {
        encoding: 'utf8',
      });
      expect(out).toContain('type nat hook postrouting priority srcnat');
      expect(out).toContain(`ip saddr 10.${second}.0.0/16 oifname != "${name}" masquerade`);
      expect(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8').trim()).toBe('1');
    },
  );
});
