import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/**
 * A PEP 503 simple index on all host addresses (the build sandbox reaches it through its
 * bridge gateway), serving pure-python wheels made here: no PyPI needed.
 */
export async function servePipIndex(
  pkgs: Array<{ name: string; version: string; module: string; body: string }>,
): Promise<{ port: number; url: (host: string) => string; close: () => Promise<void> }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-pipindex-'));
  for (const p of pkgs) {
    const dist = p.name.replace(/-/g, '_');
    const whl = `${dist}-${p.version}-py3-none-any.whl`;
    const pkgDir = path.join(dir, 'simple', p.name.toLowerCase());
    fs.mkdirSync(pkgDir, { recursive: true });
    // The wheel format is a zip with a dist-info; python's zipfile writes it exactly.
    // On stdin: a module body may be larger than an argument can be.
    execFileSync(
      'python3',
      [
        '-c',
        `import json, sys, zipfile
a = json.load(sys.stdin)
dist, ver, mod = a["dist"], a["version"], a["module"]
info = f"{dist}-{ver}.dist-info"
with zipfile.ZipFile(a["file"], "w", zipfile.ZIP_DEFLATED) as z:
    z.writestr(f"{mod}/__init__.py", a["body"])
    z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\\nName: {dist}\\nVersion: {ver}\\n")
    z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\\nGenerator: floe-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
    z.writestr(f"{info}/RECORD", "")
`,
      ],
      {
        input: JSON.stringify({
          file: path.join(pkgDir, whl),
          dist,
          version: p.version,
          module: p.module,
          body: p.body,
        }),
      },
    );
    fs.writeFileSync(
      path.join(pkgDir, 'index.html'),
      `<html><body><a href="${whl}">${whl}</a></body></html>\n`,
    );
  }
  const server = http.createServer((req, res) => {
    const rel = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    let file = path.join(dir, path.normalize(rel));
    if (!file.startsWith(dir)) file = dir;
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!fs.existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.endsWith('.html') ? 'text/html' : 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '0.0.0.0', r));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: (host) => `http://${host}:${port}/simple/`,
    close: async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
