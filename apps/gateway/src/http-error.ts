import { type ErrorCode, type Fault, FloeError, isSerializedError, reviveError } from '@floe/contracts';

/** The JSON body of every gateway error: a 4xx names the problem, a 5xx says whose fault it is. */
export interface HttpErrorBody {
  error: { code: string; message: string; field?: string; fault: Fault };
}

export interface HttpError {
  status: number;
  body: HttpErrorBody;
  headers: Record<string, string>;
}

/** Status per Floe code (gRPC's HTTP mapping, with OpenFaaS's 502 for a failed function). */
export const STATUS_BY_CODE: Record<ErrorCode, number> = {
  INVALID_ARGUMENT: 400,
  FAILED_PRECONDITION: 400,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  RESOURCE_EXHAUSTED: 429,
  FUNCTION_FAILED: 502,
  SYSCALL: 502,
  STARTUP: 502,
  INTERNAL: 500,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
};

/** Fastify and Node errors also carry `code` and `message`; only Floe's own codes make a SerializedError. */
export function isFloeCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(STATUS_BY_CODE, code);
}

/** Codes for errors that never were FloeErrors (Nest/Fastify HTTP errors), by status. */
const CODE_BY_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'ALREADY_EXISTS',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'RESOURCE_EXHAUSTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

/** Maps anything thrown while serving a request to a status, JSON body and headers. */
export function toHttpError(err: unknown): HttpError {
  const floe =
    err instanceof FloeError
      ? err
      : isSerializedError(err) && isFloeCode(err.code)
        ? reviveError(err)
        : undefined;
  if (floe) return fromFloe(floe);
  const status = statusOf(err);
  if (status !== undefined && status < 500) {
    const message = err instanceof Error ? lowerFirst(err.message) : 'bad request';
    const headers: Record<string, string> = status === 429 ? { 'retry-after': '1' } : {};
    return {
      status,
      headers,
      body: { error: { code: CODE_BY_STATUS[status] ?? 'INVALID_ARGUMENT', message, fault: 'user' } },
    };
  }
  const message = err instanceof Error ? err.message : String(err);
  return {
    status: status ?? 500,
    headers: {},
    body: { error: { code: 'INTERNAL', message: `platform fault: ${message}`, fault: 'platform' } },
  };
}

function fromFloe(e: FloeError): HttpError {
  let status = STATUS_BY_CODE[e.code] ?? 500;
  const headers: Record<string, string> = {};
  const httpStatus = e.details.httpStatus;
  // The scheduler rejects a missing/wrong X-Api-Key (FAILED_PRECONDITION) with details.httpStatus
  // 401/403; an agent refuses a body over its limit (INVALID_ARGUMENT) with 413, and a failed
  // dependencies install (FAILED_PRECONDITION) with 422; an image pull whose registry cannot be
  // reached (UNAVAILABLE) is a bad gateway, 502.
  if (
    httpStatus === 401 ||
    httpStatus === 403 ||
    httpStatus === 413 ||
    httpStatus === 422 ||
    httpStatus === 502
  )
    status = httpStatus;
  if (status === 429 || status === 503) headers['retry-after'] = retryAfter(e.details.retryAfterSeconds);
  const field = typeof e.details.field === 'string' ? e.details.field : undefined;
  let message = e.message;
  if (e.fault === 'platform' && status >= 500 && !message.startsWith('platform'))
    message = `platform fault: ${message}`;
  if (e.fault === 'user' && status >= 500 && !message.startsWith('function'))
    message = `function failed: ${message}`;
  const code =
    status === 413
      ? 'PAYLOAD_TOO_LARGE'
      : status === 422
        ? 'BUILD_FAILED'
        : status === 401
          ? 'UNAUTHENTICATED'
          : status === 403
            ? 'PERMISSION_DENIED'
            : e.code;
  return {
    status,
    headers,
    body: { error: { code, message, ...(field === undefined ? {} : { field }), fault: e.fault } },
  };
}

function retryAfter(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? String(Math.ceil(v)) : '1';
}

function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { getStatus?: () => number; statusCode?: unknown; status?: unknown };
  if (typeof e.getStatus === 'function') return e.getStatus();
  if (typeof e.statusCode === 'number') return e.statusCode;
  if (typeof e.status === 'number') return e.status;
  return undefined;
}

function lowerFirst(s: string): string {
  return s.length > 0 ? s[0]!.toLowerCase() + s.slice(1) : s;
}
