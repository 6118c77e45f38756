import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadSecretKey } from './secret-store.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function keyFile(bytes: Buffer, mode: number): { dir: string; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'floe-secret-key-'));
  dirs.push(dir);
  const file = path.join(dir, 'secrets.key');
  writeFileSync(file, bytes, { mode });
  return { dir, file };
}

describe('loadSecretKey with FLOE_SECRETS_KEY_FILE', () => {
  it('reads the configured key, and makes none in the state dir', () => {
    const key = randomBytes(32);
    const { dir, file } = keyFile(key, 0o400);
    expect(loadSecretKey(dir, file)).toEqual(key);
    expect(() => loadSecretKey(path.join(dir, 'nope'), path.join(dir, 'missing.key'))).toThrow(
      /FLOE_SECRETS_KEY_FILE .*missing\.key/,
    );
  });

  it('refuses a key of the wrong size, or one others may read, naming the file', () => {
    const short = keyFile(randomBytes(16), 0o600);
    expect(() => loadSecretKey(short.dir, short.file)).toThrow(/expected 32 bytes, got 16/);
    const open = keyFile(randomBytes(32), 0o644);
    expect(() => loadSecretKey(open.dir, open.file)).toThrow(/mode 644 lets others read the key/);
  });
});
