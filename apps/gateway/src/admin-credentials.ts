import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { AdminCredentials } from './basic-auth.js';
import type { GatewayConfig } from './config.js';

/** Where a generated admin password is kept (`user:password`, mode 0600). */
export function credentialsFile(config: GatewayConfig): string {
  return path.join(config.stateDir, 'gateway', 'admin-credentials');
}

/**
 * FLOE_ADMIN_USER / FLOE_ADMIN_PASSWORD when a password is configured; otherwise the pair in
 * the credentials file, generated on first start and reused afterwards (so faas-cli logins
 * survive restarts).
 */
export async function ensureAdminCredentials(
  config: GatewayConfig,
): Promise<AdminCredentials & { file?: string; generated: boolean }> {
  if (config.admin.password !== undefined)
    return { user: config.admin.user, password: config.admin.password, generated: false };
  const file = credentialsFile(config);
  try {
    const raw = (await readFile(file, 'utf8')).trim();
    const colon = raw.indexOf(':');
    if (colon > 0)
      return { user: raw.slice(0, colon), password: raw.slice(colon + 1), file, generated: false };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const password = randomBytes(24).toString('base64url');
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, `${config.admin.user}:${password}\n`, { mode: 0o600 });
  await rename(tmp, file);
  return { user: config.admin.user, password, file, generated: true };
}
