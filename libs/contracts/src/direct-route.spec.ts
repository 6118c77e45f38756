import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { invokeDialAddress, invokeSocketPath, parseHostPort } from './direct-route.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-direct-route-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe(parseHostPort.name, () => {
  it('splits host and port, IPv6 brackets off', () => {
    expect(parseHostPort('10.0.0.2:7201')).toEqual({ host: '10.0.0.2', port: 7201 });
    expect(parseHostPort('[::1]:7201')).toEqual({ host: '::1', port: 7201 });
  });
});

describe(invokeSocketPath.name, () => {
  it('serves a socket in the agent dir only when the agent advertises a loopback address', () => {
    expect(invokeSocketPath('/var/lib/floe/agent/', '127.0.0.1')).toBe('/var/lib/floe/agent/invoke.sock');
    expect(invokeSocketPath('/var/lib/floe/agent', 'localhost')).toBe('/var/lib/floe/agent/invoke.sock');
    expect(invokeSocketPath('/var/lib/floe/agent', '10.0.0.2')).toBeUndefined();
  });

  it('gives none for a dir too long for a socket address (108 bytes)', () => {
    expect(invokeSocketPath(`/${'d'.repeat(100)}`, '127.0.0.1')).toBeUndefined();
  });
});

describe(invokeDialAddress.name, () => {
  const socket = path.join(dir, 'invoke.sock');
  writeFileSync(socket, '');

  it("dials a loopback agent's socket when this process may open it", () => {
    expect(invokeDialAddress('127.0.0.1:7201', socket)).toEqual({ path: socket });
  });

  it('dials host:port for an agent elsewhere, without a socket, or with a socket file that is not there', () => {
    expect(invokeDialAddress('10.0.0.2:7201', socket)).toEqual({ host: '10.0.0.2', port: 7201 });
    expect(invokeDialAddress('127.0.0.1:7201')).toEqual({ host: '127.0.0.1', port: 7201 });
    expect(invokeDialAddress('127.0.0.1:7201', path.join(dir, 'missing.sock'))).toEqual({
      host: '127.0.0.1',
      port: 7201,
    });
  });
});
