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

/** A base layer the platform built: a `layers/<diffID>/fs` under the state dir holding `bin` (say usr/bin/node). */
export function findLayer(stateDir, bin) {
  const walk = (d, depth) => {
    if (depth > 4 || !existsSync(d)) return undefined;
    if (path.basename(d) === 'layers')
      for (const l of readdirSync(d))
        if (existsSync(path.join(d, l, 'fs', bin))) return path.join(d, l, 'fs');
    for (const e of readdirSync(d, { withFileTypes: true }))
      if (e.isDirectory()) {
        const hit = walk(path.join(d, e.name), depth + 1);
        if (hit) return hit;
      }
    return undefined;
  };
  return walk(stateDir, 0);
}

export const findNodeLayer = (stateDir) => findLayer(stateDir, 'usr/bin/node');

/**
 * bundle/{config.json, rootfs}: a copy of `layers` (base first, as unpacked by Floe's layer
 * store) plus the mount points an OCI runtime needs, running `args`; `tune(spec)` adjusts the rest.
 */
export async function layersBundle(dir, layers, args, { readonly = true, tune = () => {} } = {}) {
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(rootfs, { recursive: true });
  for (const fs of layers) execFileSync('cp', ['-a', `${fs}/.`, rootfs]);
  for (const d of ['proc', 'dev', 'sys', 'tmp']) mkdirSync(path.join(rootfs, d), { recursive: true });
  const spec = await config(rootfs, args, { readonly });
  tune(spec);
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
  return { dir, rootfs, spec };
}

/** A read-only copy of the platform's node base layer, running node printing one byte. */
export const nodeBundle = (dir, layerFs) =>
  layersBundle(dir, [layerFs], ['/usr/bin/node', '-e', "process.stdout.write('x')"]);
