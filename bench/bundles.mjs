// OCI bundles shared by every runtime compared: one config.json, read by floe-runtime (lib and
// CLI), crun and runc alike. Docker-like defaults (libs/runtime defaultSpec) with every
// namespace but net, and Floe's default seccomp deny-list written as OCI seccomp so that all
// three install the same filter (Floe installs it implicitly when the spec has none).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { root } from '../scripts/lib/setup.mjs';

const rt = () => import(path.join(root, 'libs/runtime/dist/index.js'));
const bpf = () => import(path.join(root, 'libs/runtime/dist/seccomp/bpf.js'));

async function config(rootfs, args, { readonly = false } = {}) {
  const { defaultSpec } = await rt();
  const { DEFAULT_DENIED } = await bpf();
  const spec = defaultSpec({ rootfs, args });
  spec.root.readonly = readonly;
  spec.linux.namespaces = spec.linux.namespaces.filter((n) => n.type !== 'network');
  spec.linux.seccomp = {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: ['SCMP_ARCH_X86_64'],
    syscalls: [{ names: [...DEFAULT_DENIED], action: 'SCMP_ACT_ERRNO', errnoRet: 1 }],
  };
  return spec;
}

/** bundle/{config.json, rootfs}: busybox /bin/true. */
export async function trueBundle(dir) {
  const { makeBusyboxRootfs } = await rt();
  mkdirSync(dir, { recursive: true });
  const rootfs = makeBusyboxRootfs(['true', 'sh']);
  const spec = await config(rootfs, ['/bin/true']);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return { dir, rootfs, spec };
}

/** The node base layer the platform built (a `layers/<diffID>/fs` under the state dir holding usr/bin/node). */
export function findNodeLayer(stateDir) {
  const walk = (d, depth) => {
    if (depth > 4 || !existsSync(d)) return undefined;
    if (path.basename(d) === 'layers')
      for (const l of readdirSync(d))
        if (existsSync(path.join(d, l, 'fs/usr/bin/node'))) return path.join(d, l, 'fs');
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) {
        const hit = walk(path.join(d, e.name), depth + 1);
        if (hit) return hit;
      }
    return undefined;
  };
  return walk(stateDir, 0);
}

/**
 * bundle/{config.json, rootfs}: a copy of the platform's node base layer (plus the mount
 * points an OCI runtime needs), read-only, running node printing one byte.
 */
export async function nodeBundle(dir, layerFs) {
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  execFileSync('cp', ['-a', `${layerFs}/.`, rootfs]);
  for (const d of ['proc', 'dev', 'sys', 'tmp']) mkdirSync(path.join(rootfs, d), { recursive: true });
  const spec = await config(rootfs, ['/usr/bin/node', '-e', "process.stdout.write('x')"], { readonly: true });
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return { dir, rootfs, spec };
}
