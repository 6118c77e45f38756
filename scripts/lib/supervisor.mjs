// Keeps `npm start`'s services up: a service that exits unasked is started again with the same
// environment after a backoff (1 s, 2 s, 4 s … 30 s, counted over its crashes of the last two
// minutes), and a crash loop is reported while npm start keeps running and retrying.
const WINDOW_MS = 120_000;
const CRASH_LOOP = 5;

/**
 * @param {{ name: string, child: import('node:child_process').ChildProcess, restart: () => import('node:child_process').ChildProcess }[]} services
 * @param {(msg: string) => void} log
 * @returns {() => void} stops supervising (call before stopping the services)
 */
export function supervise(services, log) {
  let stopping = false;
  const timers = new Set();
  const crashes = new Map();
  const watch = (s) => {
    s.child.once('exit', (code, signal) => {
      if (stopping) return;
      const now = Date.now();
      const recent = (crashes.get(s.name) ?? []).filter((t) => now - t < WINDOW_MS);
      recent.push(now);
      crashes.set(s.name, recent);
      const delay = Math.min(30_000, 1000 * 2 ** (recent.length - 1));
      log(`${s.name} exited (${signal ?? `code ${code}`}); restarting it in ${delay / 1000} s`);
      if (recent.length >= CRASH_LOOP)
        log(
          `${s.name} is crash-looping: ${recent.length} exits in ${WINDOW_MS / 60_000} minutes; the rest of the platform keeps running, and it is retried every ${delay / 1000} s`,
        );
      const t = setTimeout(() => {
        timers.delete(t);
        if (stopping) return;
        s.child = s.restart();
        log(`${s.name} restarted (pid ${s.child.pid})`);
        watch(s);
      }, delay);
      timers.add(t);
    });
  };
  for (const s of services) watch(s);
  return () => {
    stopping = true;
    for (const t of timers) clearTimeout(t);
  };
}
