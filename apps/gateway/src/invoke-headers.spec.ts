import { describe, expect, it } from 'vitest';
import { callerResponseHeaders, epochNanos, functionRequestHeaders } from './invoke-headers.js';

describe(functionRequestHeaders.name, () => {
  it('drops hop-by-hop headers, joins repeated ones and stamps the call', () => {
    const h = functionRequestHeaders(
      {
        host: 'gw',
        connection: 'keep-alive',
        'transfer-encoding': 'chunked',
        'content-length': '3',
        'x-forwarded-for': '10.0.0.1',
        accept: ['a', 'b'] as unknown as string,
        'content-type': 'text/plain',
      },
      'id-1',
      '1700000000000000000',
      '127.0.0.1',
    );
    expect(h).toEqual({
      host: 'gw',
      accept: 'a, b',
      'content-type': 'text/plain',
      'x-forwarded-for': '10.0.0.1, 127.0.0.1',
      'x-call-id': 'id-1',
      'x-start-time': '1700000000000000000',
    });
  });
});

describe(callerResponseHeaders.name, () => {
  it('passes function headers through, lower-cased, and the gateway stamps win', () => {
    const h = callerResponseHeaders(
      { 'Content-Type': 'image/png', 'X-Call-Id': 'forged', 'Transfer-Encoding': 'chunked', 'X-Mine': '1' },
      { callId: 'c', startNs: '1', durationSeconds: 0.0012346, start: 'warm' },
    );
    expect(h).toEqual({
      'content-type': 'image/png',
      'x-mine': '1',
      'x-call-id': 'c',
      'x-start-time': '1',
      'x-duration-seconds': '0.001235',
      'x-floe-start': 'warm',
    });
  });

  it('omits X-Floe-Start when the call never reached an instance', () => {
    expect(
      callerResponseHeaders(undefined, { callId: 'c', startNs: '1', durationSeconds: 1 }),
    ).not.toHaveProperty('x-floe-start');
  });
});

describe(epochNanos.name, () => {
  it('is an integer string of nanoseconds near now', () => {
    const ns = epochNanos();
    expect(ns).toMatch(/^\d{19}$/);
    expect(Math.abs(Number(BigInt(ns) / 1_000_000n) - Date.now())).toBeLessThan(1000);
  });
});
