// Case 6: wrk over HTTPS (keep-alive) against a warm no-op node function at several
// concurrencies. wrk shares the 2 cores with the platform, as a client on the same box would.
// Each level reports how many instances the agent started while it ran (`scale_outs`, from
// floe_agent_starts_total{kind!="warm"}), so a p99 tail can be told apart from scale-out.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { deployment } from './platform.mjs';
import { CLEAN_ENV } from './stats.mjs';

const run = promisify(execFile);

export function parseWrk(stdout) {
  const num = (re) => Number((re.exec(stdout) ?? [])[1] ?? 0);
  const ms = (re) => {
    const m = re.exec(stdout);
    if (!m) return null;
    const f = { us: 1e-3, ms: 1, s: 1e3 }[m[2]];
    return Math.round(Number(m[1]) * f * 1000) / 1000;
  };
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout);
  const socketErrors = sock ? sock.slice(1).reduce((a, x) => a + Number(x), 0) : 0;
  const non2xx = num(/Non-2xx or 3xx responses: (\d+)/);
  return {
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    requests: num(/(\d+) requests in/),
    errors: non2xx + socketErrors,
    non2xx,
    socket_errors: socketErrors,
    latency_ms: { p50: ms(/\s50%\s+([\d.]+)(us|ms|s)/), p99: ms(/\s99%\s+([\d.]+)(us|ms|s)/) },
  };
}

export async function throughput(client, { seconds, log }) {
  const name = 'tput-noop';
  await client.deploy(deployment('node', name));
  await client.invoke(name);
  const url = `${client.url.replace('localhost', '127.0.0.1')}/function/${name}`;
  await run('wrk', ['-t1', '-c4', '-d1s', url], { env: CLEAN_ENV }); // connections, JIT
  const out = [];
  const started = async () =>
    (await client.metrics())
      .filter((m) => m.name === 'floe_agent_starts_total' && m.labels.kind !== 'warm')
      .reduce((a, m) => a + m.value, 0);
  // c=16 runs twice: first from the instances one connection needed (so it includes scaling
  // out), then again right after, on the instances the first run left warm (steady state).
  const levels = [{ c: 1 }, { c: 16 }, { c: 16, steady: true }, { c: 64 }];
  for (const { c, steady } of levels) {
    const before = await started();
    log(`throughput: wrk -c${c}${steady ? ' (steady: instances already out)' : ''} for ${seconds} s`);
    const threads = Math.min(c, 2);
    const { stdout } = await run('wrk', [`-t${threads}`, `-c${c}`, `-d${seconds}s`, '--latency', url], {
      env: CLEAN_ENV,
      timeout: (seconds + 30) * 1000,
    });
    const scaleOuts = (await started()) - before;
    out.push({
      concurrency: c,
      ...(steady ? { steady: true } : {}),
      ...parseWrk(stdout),
      scale_outs: scaleOuts,
    });
  }
  return { throughput: out };
}
