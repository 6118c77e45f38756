import type { SerializedError } from './errors.js';
import type { AsyncCall } from './invoke.js';

/** An async call that failed its last attempt; async.dead answers these, newest first. */
export interface DeadLetter extends AsyncCall {
  failedAt: number;
  /** The last attempt's error, or the function's last HTTP status when it answered 5xx. */
  error?: SerializedError;
  lastStatus?: number;
}
