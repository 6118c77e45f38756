/**
 * Floe's error hierarchy. Every error carries a machine-readable `code`; each app has one
 * exception filter that maps codes to HTTP or RPC errors. Messages are lower-case and name
 * the operation and the object; wrap causes with `{ cause }`.
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'INVALID_ARGUMENT'
  | 'RESOURCE_EXHAUSTED'
  | 'DEADLINE_EXCEEDED'
  | 'UNAVAILABLE'
  | 'SYSCALL'
  | 'STARTUP'
  | 'FUNCTION_FAILED'
  | 'INTERNAL';

export type Fault = 'platform' | 'user';

export class FloeError extends Error {
  readonly code: ErrorCode;
  /** Whose fault: a user's bad code or input, or the platform's. */
  readonly fault: Fault;
  /** Extra machine-readable detail (field name, limit, exit code...). */
  readonly details: Record<string, unknown>;

  constructor(
    code: ErrorCode,
    message: string,
    opts: { cause?: unknown; fault?: Fault; details?: Record<string, unknown> } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.fault = opts.fault ?? (code === 'INVALID_ARGUMENT' || code === 'NOT_FOUND' ? 'user' : 'platform');
    this.details = opts.details ?? {};
  }

  toJSON(): SerializedError {
    return { code: this.code, message: this.message, fault: this.fault, details: this.details };
  }
}

export class NotFoundError extends FloeError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('NOT_FOUND', message, { details, fault: 'user' });
  }
}

export class AlreadyExistsError extends FloeError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('ALREADY_EXISTS', message, { details, fault: 'user' });
  }
}

export class FailedPreconditionError extends FloeError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('FAILED_PRECONDITION', message, { details });
  }
}

/** Bad input. `field` names the offending field (dotted path) so a 400 can say which. */
export class InvalidArgumentError extends FloeError {
  readonly field: string;
  constructor(field: string, message: string) {
    super('INVALID_ARGUMENT', `${field}: ${message}`, { details: { field }, fault: 'user' });
    this.field = field;
  }
}

/** A failed syscall, naming the call, errno and path, as crun's errors do. */
export class SyscallError extends FloeError {
  readonly syscall: string;
  readonly errno: number;
  readonly path?: string;
  constructor(syscall: string, errno: number, path?: string, what?: string) {
    const name = errnoName(errno);
    super(
      'SYSCALL',
      `${what ? `${what}: ` : ''}${syscall}${path ? ` \`${path}\`` : ''}: ${name} (errno ${errno})`,
      { details: { syscall, errno, errnoName: name, path } },
    );
    this.syscall = syscall;
    this.errno = errno;
    this.path = path;
  }
}

/** A container or function failed to start. `fault` says whose fault it was. */
export class StartupError extends FloeError {
  constructor(
    message: string,
    fault: Fault,
    opts: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super('STARTUP', message, { ...opts, fault });
  }
}

export interface SerializedError {
  code: ErrorCode;
  message: string;
  fault: Fault;
  details: Record<string, unknown>;
}

export function isSerializedError(v: unknown): v is SerializedError {
  return typeof v === 'object' && v !== null && 'code' in v && 'message' in v;
}

/** Rebuild an error that crossed a process boundary. */
export function reviveError(e: SerializedError): FloeError {
  return new FloeError(e.code, e.message, { fault: e.fault, details: e.details });
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM',
  2: 'ENOENT',
  3: 'ESRCH',
  4: 'EINTR',
  5: 'EIO',
  7: 'E2BIG',
  9: 'EBADF',
  10: 'ECHILD',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES',
  14: 'EFAULT',
  16: 'EBUSY',
  17: 'EEXIST',
  18: 'EXDEV',
  19: 'ENODEV',
  20: 'ENOTDIR',
  21: 'EISDIR',
  22: 'EINVAL',
  24: 'EMFILE',
  28: 'ENOSPC',
  30: 'EROFS',
  36: 'ENAMETOOLONG',
  38: 'ENOSYS',
  39: 'ENOTEMPTY',
  40: 'ELOOP',
  95: 'EOPNOTSUPP',
  110: 'ETIMEDOUT',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E#${errno}`;
}
