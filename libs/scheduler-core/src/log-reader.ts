import type { LogLine, LogsReadRequest } from '@floe/contracts';
import type { AgentClientFactory } from './agent-client.js';
import type { AgentDirectory } from './agent-directory.js';

export const DEFAULT_LOG_TAIL = 100;

/**
 * logs.read: asks every agent for the function's lines and merges them by timestamp.
 * An agent that fails to answer is skipped: partial logs beat none.
 */
export async function readLogs(
  directory: AgentDirectory,
  clients: AgentClientFactory,
  req: LogsReadRequest,
): Promise<LogLine[]> {
  const tail = req.tail ?? DEFAULT_LOG_TAIL;
  const answers = await Promise.all(
    directory.all().map((a) =>
      clients
        .get(a)
        .logs({ namespace: req.namespace, name: req.name, tail, since: req.since })
        .then((r) => r.lines)
        .catch(() => []),
    ),
  );
  const lines = answers
    .flat()
    .map((l) => ({
      name: l.function,
      namespace: l.namespace,
      instance: l.instance,
      timestamp: l.ts,
      text: l.text,
    }))
    .sort((a, b) => (a.timestamp < b.timestamp ? -1 : a.timestamp > b.timestamp ? 1 : 0));
  return tail > 0 ? lines.slice(-tail) : lines;
}
