/**
 * How the CLI fails. Every failure ends as one `CliError`, printed once by `run`, with an exit
 * code a script can branch on: 2 usage, 3 the gateway refused the request (4xx), 1 the
 * gateway or the network failed (5xx, refused connection), 4 the gateway's certificate is not
 * the one pinned at login.
 */
export const EXIT = { ok: 0, failure: 1, usage: 2, rejected: 3, tls: 4 } as const;

export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failure,
    /** The gateway's error body, `{ code, message, field?, fault }`, when it sent one. */
    readonly details?: { code?: string; field?: string; status?: number },
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/** The gateway answered with a status ≥ 400: its error code, message and field, as sent. */
export function apiError(status: number, body: Buffer): CliError {
  let code: string | undefined;
  let message = body.toString('utf8').trim() || `HTTP ${status}`;
  let field: string | undefined;
  try {
    const parsed = JSON.parse(body.toString('utf8'));
    const e = parsed?.error ?? parsed;
    if (typeof e?.message === 'string') message = e.message;
    if (typeof e?.code === 'string') code = e.code;
    if (typeof e?.field === 'string') field = e.field;
  } catch {
    // Not JSON (a function's own body, a proxy's page): the text is the message.
  }
  const text = `${status}${code ? ` ${code}` : ''}: ${message}${field ? ` (field: ${field})` : ''}`;
  return new CliError(text, status < 500 ? EXIT.rejected : EXIT.failure, { code, field, status });
}
