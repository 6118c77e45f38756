import crypto from 'node:crypto';

/** Admin credentials for /system/* and /floe/*. */
export interface AdminCredentials {
  user: string;
  password: string;
}

/** Decodes an `Authorization: Basic ...` header; undefined when absent or malformed. */
export function parseBasicAuth(header: string | undefined): AdminCredentials | undefined {
  if (!header || header.length < 7 || header.slice(0, 6).toLowerCase() !== 'basic ') return undefined;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

const digest = (s: string) => crypto.createHash('sha256').update(s, 'utf8').digest();

/**
 * Checks credentials in constant time: both sides are hashed to equal-length digests
 * (timingSafeEqual needs equal lengths, and hashing hides the expected length), and user
 * and password are both compared before combining, so neither short-circuits.
 */
export class CredentialCheck {
  private readonly user: Buffer;
  private readonly password: Buffer;

  constructor(expected: AdminCredentials) {
    this.user = digest(expected.user);
    this.password = digest(expected.password);
  }

  matches(given: AdminCredentials | undefined): boolean {
    const user = crypto.timingSafeEqual(digest(given?.user ?? ''), this.user);
    const password = crypto.timingSafeEqual(digest(given?.password ?? ''), this.password);
    return given !== undefined && user && password;
  }
}
