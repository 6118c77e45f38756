import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseMirrors, registryConfigFromEnv } from './registry-config.js';

describe('registry configuration', () => {
  it('reads mirrors as containerd and Docker write them, several per registry, in order', () => {
    expect(
      parseMirrors('docker.io=https://m1:5000, docker.io=http://127.0.0.1:5001/,ghcr.io=https://g'),
    ).toEqual({
      'docker.io': ['https://m1:5000', 'http://127.0.0.1:5001'],
      'ghcr.io': ['https://g'],
    });
    expect(() => parseMirrors('docker.io')).toThrow(
      /FLOE_REGISTRY_MIRRORS: expected registry=http\(s\):\/\/host/,
    );
    expect(() => parseMirrors('docker.io=ftp://x')).toThrow(/FLOE_REGISTRY_MIRRORS/);
  });

  it('adds FLOE_REGISTRY_CA to the system roots and reads FLOE_REGISTRY_AUTH, naming a bad variable', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-regcfg-'));
    try {
      fs.writeFileSync(path.join(dir, 'ca.pem'), 'PEM');
      fs.writeFileSync(
        path.join(dir, 'auth.json'),
        JSON.stringify({ auths: { 'r:5000': { username: 'u', password: 'p' } } }),
      );
      const c = registryConfigFromEnv({
        FLOE_REGISTRY_CA: path.join(dir, 'ca.pem'),
        FLOE_REGISTRY_AUTH: path.join(dir, 'auth.json'),
        FLOE_REGISTRY_INSECURE: 'a:1, b:2',
        FLOE_REGISTRY: 'r:5000/uploads/',
      });
      expect(c.ca.at(-1)).toBe('PEM');
      expect(c.ca.length).toBeGreaterThan(1);
      expect(c.insecure).toEqual(['a:1', 'b:2']);
      expect(c.platformCredentials?.get('r:5000')).toEqual({ username: 'u', password: 'p' });
      expect(c.uploadRegistry).toBe('r:5000/uploads');
      expect(() => registryConfigFromEnv({ FLOE_REGISTRY_CA: path.join(dir, 'none') })).toThrow(
        /FLOE_REGISTRY_CA/,
      );
      fs.writeFileSync(path.join(dir, 'bad.json'), '{}');
      expect(() => registryConfigFromEnv({ FLOE_REGISTRY_AUTH: path.join(dir, 'bad.json') })).toThrow(
        /FLOE_REGISTRY_AUTH: .*no "auths"/,
      );
      expect(() => registryConfigFromEnv({ FLOE_REGISTRY: 'not a host!' })).toThrow(/FLOE_REGISTRY:/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
