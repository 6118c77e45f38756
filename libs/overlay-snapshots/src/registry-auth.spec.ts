import { describe, expect, it } from 'vitest';
import { basicHeader, parseChallenge, parseDockerConfig } from './registry-auth.js';

describe('parseChallenge', () => {
  it('reads the bearer realm, service and scope as Docker Hub sends them', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual({
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/busybox:pull',
      },
    });
  });

  it('reads basic with a realm and unquoted params', () => {
    expect(parseChallenge('Basic realm="Registry Realm"')).toEqual({
      scheme: 'basic',
      params: { realm: 'Registry Realm' },
    });
    expect(parseChallenge('Bearer realm=x, service=y')?.params).toEqual({ realm: 'x', service: 'y' });
  });
});

describe('parseDockerConfig', () => {
  it('decodes auth and username/password entries by host; the legacy hub key is docker.io', () => {
    const auth = Buffer.from('alice:p:w').toString('base64');
    const creds = parseDockerConfig(
      JSON.stringify({
        auths: {
          'https://index.docker.io/v1/': { auth },
          'https://reg.example:5000/v2/': { username: 'bob', password: 'x' },
        },
      }),
    );
    expect(creds.get('docker.io')).toEqual({ username: 'alice', password: 'p:w' });
    expect(creds.get('reg.example:5000')).toEqual({ username: 'bob', password: 'x' });
    expect(basicHeader(creds.get('reg.example:5000')!)).toBe(
      `Basic ${Buffer.from('bob:x').toString('base64')}`,
    );
  });

  it.each([
    ['nope', /not JSON/],
    ['{}', /no "auths"/],
    ['{"auths":{"h":{"auth":"eA=="}}}', /not base64\(user:password\)/],
    ['{"auths":{"h":{}}}', /neither auth/],
  ])('rejects %s naming the field, never echoing a password', (json, why) => {
    expect(() => parseDockerConfig(json, 'registry-auth')).toThrow(why);
    expect(() => parseDockerConfig(json, 'registry-auth')).toThrow(/^registry-auth:/);
  });
});
