import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { floe, request, waitFor } from './support/client.js';

// The README's "Deploy and invoke" examples, run with bash exactly as written, against the e2e
// platform: a `# → x` comment promises that x is in the output.
const readme = readFileSync(path.join(import.meta.dirname, '../README.md'), 'utf8');
const section = readme.slice(readme.indexOf('## Deploy and invoke'));
const blocks = [...section.slice(0, section.indexOf('\n## ', 1)).matchAll(/```sh\n([\s\S]*?)```/g)].map(
  (m) => m[1],
);
// What a block needs that the e2e platform does not have.
const NEEDS: [RegExp, string][] = [
  [/@alpine\.tar/, 'an OpenFaaS image tarball (alpine.tar)'],
  [/registry\.example/, 'a registry of your own (registry.example)'],
  [/npm start/, 'its own platform (npm start), which the e2e suite already runs'],
];

const tools = ['bash', 'curl', 'tar', 'base64'].filter(
  (t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0,
);
if (tools.length) console.warn(`readme e2e: skipped, ${tools.join(', ')} not installed`);

// The examples' callback URL: listened on when free, so the async example's result is checked.
const CALLBACK_PORT = 9000;
const callbacks: string[] = [];
const callbackServer = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    callbacks.push(Buffer.concat(chunks).toString());
    res.end();
  });
});
const listening = new Promise<boolean>((resolve) => {
  callbackServer.once('error', () => resolve(false));
  callbackServer.listen(CALLBACK_PORT, '127.0.0.1', () => resolve(true));
});

// Inside the checkout (under the ignored .floe/), so that `npx floe` finds the workspace's bin
// as it does for a user in their clone.
const repoRoot = path.resolve(import.meta.dirname, '..');
mkdirSync(path.join(repoRoot, '.floe'), { recursive: true });
const cwd = mkdtempSync(path.join(repoRoot, '.floe', 'readme-'));
const services = new Set<string>();
const secrets = new Set<string>();

afterAll(async () => {
  for (const name of services)
    await request('DELETE', '/system/functions', { body: { functionName: name }, auth: true });
  for (const name of secrets) await request('DELETE', '/system/secrets', { body: { name }, auth: true });
  callbackServer.close();
  rmSync(cwd, { recursive: true, force: true });
});

function promised(block: string): string[] {
  return [...block.matchAll(/# → (.+?)(?: {2,}|$)/gm)].map((m) => m[1].trim());
}

describe.skipIf(tools.length > 0)("the README's Deploy and invoke examples", () => {
  it('has examples that promise output', () => {
    expect(blocks.length).toBeGreaterThan(0);
    expect(promised(blocks.join('\n'))).toEqual(expect.arrayContaining(['hello world', 'QUIET']));
  });

  blocks.forEach((block, i) => {
    const need = NEEDS.find(([re]) => re.test(block));
    if (need) console.warn(`readme e2e: block ${i + 1} skipped, it needs ${need[1]}`);
    it.skipIf(need !== undefined)(
      `block ${i + 1} runs as written: ${promised(block).join(', ')}`,
      async () => {
        for (const m of block.matchAll(/\\?"service\\?":\\?"([a-z0-9-]+)/g)) services.add(m[1]);
        for (const m of block.matchAll(/\/system\/secrets -d '\{"name":"([a-z0-9-]+)"/g)) secrets.add(m[1]);
        for (const m of block.matchAll(/floe deploy \.\/([a-z0-9-]+)/g)) services.add(m[1]);
        const f = floe();
        const gotCallbackPort = await listening;
        // Async so the callback server in this process can answer while bash runs.
        const run = await new Promise<{ status: number | null; stdout: string; stderr: string }>(
          (resolve) => {
            const child = spawn('bash', ['-e', '-o', 'pipefail'], {
              cwd,
              env: {
                PATH: process.env.PATH,
                HOME: cwd,
                GW: f.url.replace(/\/$/, ''),
                PASS: f.password,
                FLOE_PASSWORD: f.password,
              },
            });
            let stdout = '';
            let stderr = '';
            child.stdout.on('data', (c: Buffer) => {
              stdout += c;
            });
            child.stderr.on('data', (c: Buffer) => {
              stderr += c;
            });
            child.on('close', (status: number | null) => resolve({ status, stdout, stderr }));
            child.stdin.end(block);
          },
        );
        expect(run.status, `${run.stderr}\n${run.stdout}`).toBe(0);
        expect(run.stdout).not.toMatch(/"error"/);
        let from = 0;
        for (const want of promised(block)) {
          const at = run.stdout.indexOf(want, from);
          expect(at, `"${want}" after offset ${from} in:\n${run.stdout}`).toBeGreaterThanOrEqual(0);
          from = at + want.length;
        }
        if (block.includes(`127.0.0.1:${CALLBACK_PORT}/cb`)) {
          if (gotCallbackPort)
            await waitFor('the async callback', async () => callbacks.includes('hello later'));
          else console.warn(`readme e2e: port ${CALLBACK_PORT} is taken, the async callback is not checked`);
        }
      },
    );
  });
});
