import { describe, expect, it } from 'vitest';
import { normalizeRef } from './image-refs.js';

describe(normalizeRef.name, () => {
  it.each([
    ['alpine', 'alpine:latest'],
    ['docker.io/library/alpine:3', 'alpine:3'],
    ['functions/alpine', 'functions/alpine:latest'],
    ['index.docker.io/functions/alpine:latest', 'functions/alpine:latest'],
    ['localhost:5000/x', 'localhost:5000/x:latest'],
    ['ghcr.io/a/b:1', 'ghcr.io/a/b:1'],
  ])('%s is %s', (ref, want) => {
    expect(normalizeRef(ref)).toBe(want);
  });
});
