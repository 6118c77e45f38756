import { describe, expect, it } from 'vitest';
import { formatReference, parseReference, pinReference } from './image-reference.js';

const D = `sha256:${'a'.repeat(64)}`;

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io', 'library/busybox', 'latest', undefined],
    ['functions/alpine', 'docker.io', 'functions/alpine', 'latest', undefined],
    ['functions/alpine:3.19', 'docker.io', 'functions/alpine', '3.19', undefined],
    ['docker.io/library/node:20', 'docker.io', 'library/node', '20', undefined],
    ['index.docker.io/x/y', 'docker.io', 'x/y', 'latest', undefined],
    ['host:5000/a/b:tag', 'host:5000', 'a/b', 'tag', undefined],
    ['localhost/a', 'localhost', 'a', 'latest', undefined],
    ['ghcr.io/o/r/deep:v1', 'ghcr.io', 'o/r/deep', 'v1', undefined],
    [`name@${D}`, 'docker.io', 'library/name', undefined, D],
    [`127.0.0.1:5000/n:t@${D}`, '127.0.0.1:5000', 'n', 't', D],
  ])('%s', (ref, registry, repository, tag, digest) => {
    expect(parseReference(ref)).toEqual({ registry, repository, tag, digest });
  });

  it.each([
    ['', /empty/],
    ['Upper/case', /lower-case/],
    ['a b', /whitespace/],
    ['name@sha256:xyz', /digest/],
    ['name:bad tag', /whitespace/],
    ['name:-x', /tag '-x'/],
    ['host:5000/', /lower-case/],
  ])('rejects %j naming the image field', (ref, why) => {
    const err = (() => {
      try {
        parseReference(ref);
      } catch (e) {
        return e as Error & { field?: string };
      }
    })();
    expect(err?.field).toBe('image');
    expect(err?.message).toMatch(why);
  });

  it('formats canonically and pins a digest', () => {
    const r = parseReference('busybox');
    expect(formatReference(r)).toBe('docker.io/library/busybox:latest');
    expect(formatReference(pinReference(r, D))).toBe(`docker.io/library/busybox@${D}`);
  });
});
