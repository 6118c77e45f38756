import { InvalidArgumentError } from '@floe/contracts';

/** An image config's `User`: `user[:group]`, each a name or a numeric id (OCI image spec). */
export interface ImageUserSpec {
  user: string;
  group?: string;
}

export function parseImageUser(raw: string | undefined): ImageUserSpec {
  const s = (raw ?? '').trim();
  if (!s) return { user: '0' };
  const [user = '', group, ...rest] = s.split(':');
  if (!user || rest.length || group === '')
    throw new InvalidArgumentError('image.User', `expected user[:group], got '${raw}'`);
  return group === undefined ? { user } : { user, group };
}

/**
 * Numeric uid and gid for an image user, names looked up in the image's own /etc/passwd
 * and /etc/group (as Docker does); a numeric user without a group takes the passwd entry's
 * gid, else its own id.
 */
export function resolveImageUser(
  spec: ImageUserSpec,
  passwd: string,
  group: string,
): { uid: number; gid: number } {
  const entries = (text: string) => text.split('\n').map((l) => l.split(':'));
  const users = entries(passwd);
  const numeric = (s: string) => (/^\d{1,10}$/.test(s) ? Number(s) : undefined);
  let uid = numeric(spec.user);
  let pwGid: number | undefined;
  const pw = users.find((e) => (uid === undefined ? e[0] === spec.user : numeric(e[2] ?? '') === uid));
  if (uid === undefined) {
    if (!pw)
      throw new InvalidArgumentError('image.User', `user '${spec.user}' is not in the image's /etc/passwd`);
    uid = numeric(pw[2] ?? '');
  }
  if (pw) pwGid = numeric(pw[3] ?? '');
  let gid = spec.group === undefined ? (pwGid ?? uid) : numeric(spec.group);
  if (gid === undefined) {
    const gr = entries(group).find((e) => e[0] === spec.group);
    gid = gr ? numeric(gr[2] ?? '') : undefined;
    if (gid === undefined)
      throw new InvalidArgumentError('image.User', `group '${spec.group}' is not in the image's /etc/group`);
  }
  if (uid === undefined || uid > 0xfffffffe || gid > 0xfffffffe)
    throw new InvalidArgumentError('image.User', `'${spec.user}' does not give a valid uid`);
  return { uid, gid };
}
