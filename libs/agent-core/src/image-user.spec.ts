import { InvalidArgumentError } from '@floe/contracts';
import { describe, expect, it } from 'vitest';
import { parseImageUser, resolveImageUser } from './image-user.js';

const passwd = 'root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n';
const group = 'root:x:0:\nstaff:x:50:\n';

describe('image User', () => {
  it('defaults to root and parses user[:group]', () => {
    expect(parseImageUser(undefined)).toEqual({ user: '0' });
    expect(parseImageUser('app:staff')).toEqual({ user: 'app', group: 'staff' });
    expect(() => parseImageUser('a:b:c')).toThrow(InvalidArgumentError);
    expect(() => parseImageUser('a:')).toThrow(InvalidArgumentError);
  });

  it('resolves names through the image passwd and group, numbers as they are', () => {
    expect(resolveImageUser({ user: 'app' }, passwd, group)).toEqual({ uid: 1000, gid: 1001 });
    expect(resolveImageUser({ user: 'app', group: 'staff' }, passwd, group)).toEqual({ uid: 1000, gid: 50 });
    expect(resolveImageUser({ user: '1000' }, passwd, group)).toEqual({ uid: 1000, gid: 1001 });
    expect(resolveImageUser({ user: '4242' }, passwd, group)).toEqual({ uid: 4242, gid: 4242 });
    expect(resolveImageUser({ user: '4242', group: '7' }, '', '')).toEqual({ uid: 4242, gid: 7 });
  });

  it('names the field when a name is unknown', () => {
    expect(() => resolveImageUser({ user: 'ghost' }, passwd, group)).toThrow(/image\.User: user 'ghost'/);
    expect(() => resolveImageUser({ user: 'app', group: 'ghost' }, passwd, group)).toThrow(/group 'ghost'/);
  });
});
