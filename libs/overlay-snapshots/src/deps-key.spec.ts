import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { depsKey, depsSpec, readManifestFiles } from './deps-key.js';

const pkg = JSON.stringify({ name: 'f', dependencies: { 'is-number': '7.0.0' } });
const lock = JSON.stringify({
  lockfileVersion: 3,
  packages: { '': { dependencies: { 'is-number': '7.0.0' } } },
});

describe('depsKey', () => {
  it('is a sha256 digest that depends on runtime and lockfile only', () => {
    const k = depsKey('node', lock);
    expect(k).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(depsKey('node', lock)).toBe(k);
    expect(depsKey('python', lock)).not.toBe(k);
    expect(depsKey('node', `${lock}\n`)).not.toBe(k);
  });
});

describe('depsSpec', () => {
  it('keys a node function by its package-lock.json, whatever package.json or the code says', () => {
    const a = depsSpec('node', { 'package.json': pkg, 'package-lock.json': lock });
    const b = depsSpec('node', { 'package.json': `${pkg} `, 'package-lock.json': lock, 'index.js': 'x' });
    expect(a?.key).toBe(depsKey('node', lock));
    expect(b?.key).toBe(a?.key);
    expect(a?.lockfile).toBe('package-lock.json');
    expect(Object.keys(a!.files).sort()).toEqual(['package-lock.json', 'package.json']);
  });

  it('prefers npm-shrinkwrap.json, as npm does', () => {
    const s = depsSpec('node', {
      'package.json': pkg,
      'package-lock.json': lock,
      'npm-shrinkwrap.json': '{}',
    });
    expect(s?.lockfile).toBe('npm-shrinkwrap.json');
    expect(s?.key).toBe(depsKey('node', '{}'));
  });

  it('installs nothing for node without a lockfile, or without package.json', () => {
    expect(depsSpec('node', { 'package.json': pkg })).toBeUndefined();
    expect(depsSpec('node', { 'package-lock.json': lock })).toBeUndefined();
  });

  it('keys python by requirements.txt, and skips an empty one', () => {
    expect(depsSpec('python', { 'requirements.txt': 'six==1.16.0\n' })?.key).toBe(
      depsKey('python', 'six==1.16.0\n'),
    );
    expect(depsSpec('python', { 'requirements.txt': ' \n' })).toBeUndefined();
  });

  it('has no dependencies layer for exec or image functions', () => {
    expect(depsSpec('exec', { 'requirements.txt': 'six' })).toBeUndefined();
    expect(depsSpec(undefined, { 'package.json': pkg, 'package-lock.json': lock })).toBeUndefined();
  });
});

describe('readManifestFiles', () => {
  it('reads top-level manifests from a tar.gz and a tar, not nested ones or code', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'floe-depskey-'));
    try {
      const src = path.join(dir, 'src');
      fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(src, 'package.json'), pkg);
      fs.writeFileSync(path.join(src, 'package-lock.json'), lock);
      fs.writeFileSync(path.join(src, 'index.js'), 'module.exports = 1');
      fs.writeFileSync(path.join(src, 'sub', 'requirements.txt'), 'six');
      execFileSync('tar', ['-C', src, '-czf', path.join(dir, 'a.tgz'), '.']);
      execFileSync('tar', ['-C', src, '-cf', path.join(dir, 'a.tar'), 'package.json', 'index.js']);
      expect(await readManifestFiles(fs.readFileSync(path.join(dir, 'a.tgz')))).toEqual({
        'package.json': pkg,
        'package-lock.json': lock,
      });
      expect(await readManifestFiles(fs.readFileSync(path.join(dir, 'a.tar')))).toEqual({
        'package.json': pkg,
      });
      expect(await readManifestFiles(Buffer.from('PK\u0003\u0004not really'))).toEqual({});
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
