import { FloeError, InvalidArgumentError, NotFoundError } from '@floe/contracts';
import { NotFoundException, UnauthorizedException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { toHttpError } from './http-error.js';

describe(toHttpError.name, () => {
  it.each([
    ['NOT_FOUND', 404],
    ['ALREADY_EXISTS', 409],
    ['INVALID_ARGUMENT', 400],
    ['FAILED_PRECONDITION', 400],
    ['RESOURCE_EXHAUSTED', 429],
    ['DEADLINE_EXCEEDED', 504],
    ['FUNCTION_FAILED', 502],
    ['UNAVAILABLE', 503],
    ['SYSCALL', 502],
    ['STARTUP', 502],
    ['INTERNAL', 500],
  ] as const)('%s → %i', (code, status) => {
    expect(toHttpError(new FloeError(code, 'x')).status).toBe(status);
    // The same error after crossing the RPC boundary as JSON.
    expect(toHttpError(new FloeError(code, 'x').toJSON()).status).toBe(status);
  });

  it('names the field of a 400', () => {
    const e = toHttpError(new InvalidArgumentError('service', 'required'));
    expect(e.body).toEqual({
      error: { code: 'INVALID_ARGUMENT', message: 'service: required', field: 'service', fault: 'user' },
    });
  });

  it('adds Retry-After to 429, from the scheduler when given', () => {
    expect(toHttpError(new FloeError('RESOURCE_EXHAUSTED', 'busy')).headers).toEqual({ 'retry-after': '1' });
    const e = new FloeError('RESOURCE_EXHAUSTED', 'busy', { details: { retryAfterSeconds: 2.5 } });
    expect(toHttpError(e.toJSON()).headers).toEqual({ 'retry-after': '3' });
  });

  it("says a crashed function is the user's fault, and keeps the scheduler's message", () => {
    const e = new FloeError('FUNCTION_FAILED', 'function crashed: OOMKilled (limit 128Mi)', {
      fault: 'user',
    });
    expect(toHttpError(e.toJSON()).body.error).toEqual({
      code: 'FUNCTION_FAILED',
      message: 'function crashed: OOMKilled (limit 128Mi)',
      fault: 'user',
    });
  });

  it('says a platform 5xx is a platform fault', () => {
    const e = toHttpError(new FloeError('SYSCALL', 'mount `/x`: EPERM'));
    expect(e.body.error.message).toBe('platform fault: mount `/x`: EPERM');
    expect(e.body.error.fault).toBe('platform');
  });

  it('maps api-key rejections to 401 and 403', () => {
    const e = (s: number) => new FloeError('FAILED_PRECONDITION', 'api key', { details: { httpStatus: s } });
    expect(toHttpError(e(401)).status).toBe(401);
    expect(toHttpError(e(403)).body.error.code).toBe('PERMISSION_DENIED');
  });

  it("maps an agent's body-limit refusal to 413 naming the field", () => {
    const e = new FloeError('INVALID_ARGUMENT', 'request body of 2000 bytes is over the limit', {
      fault: 'user',
      details: { field: 'body', limitBytes: 1024, httpStatus: 413 },
    });
    expect(toHttpError(e)).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE', field: 'body', fault: 'user' } },
    });
  });

  it('maps a failed dependencies install to 422 BUILD_FAILED, keeping the installer lines in the message', () => {
    const e = new FloeError(
      'FAILED_PRECONDITION',
      'dependencies: pip install failed (exit 1):\nERROR: no match',
      {
        fault: 'user',
        details: { field: 'dependencies', httpStatus: 422 },
      },
    );
    expect(toHttpError(e)).toMatchObject({
      status: 422,
      body: {
        error: {
          code: 'BUILD_FAILED',
          message: 'dependencies: pip install failed (exit 1):\nERROR: no match',
          field: 'dependencies',
          fault: 'user',
        },
      },
    });
  });

  it('maps Nest and Fastify HTTP errors by status', () => {
    expect(toHttpError(new UnauthorizedException('no')).body.error.code).toBe('UNAUTHENTICATED');
    expect(toHttpError(new NotFoundException('Cannot GET /x')).body.error.message).toBe('cannot GET /x');
    const tooBig = Object.assign(new Error('Request body is too large'), { statusCode: 413 });
    expect(toHttpError(tooBig)).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE' } },
    });
  });

  it('treats anything else as a platform 500', () => {
    expect(toHttpError(new Error('boom'))).toMatchObject({
      status: 500,
      body: { error: { code: 'INTERNAL', fault: 'platform' } },
    });
    expect(toHttpError(new NotFoundError('function x not found')).status).toBe(404);
  });
});

describe('Fastify errors that look serialized', () => {
  it('uses their statusCode, not their FST_ code', () => {
    const e = Object.assign(new Error('Request body is too large'), {
      code: 'FST_ERR_CTP_BODY_TOO_LARGE',
      statusCode: 413,
    });
    expect(toHttpError(e)).toMatchObject({
      status: 413,
      body: { error: { code: 'PAYLOAD_TOO_LARGE', fault: 'user' } },
    });
  });
});
