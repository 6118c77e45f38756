// `npm run bench [-- --quick]`: Floe's starts, throughput and density next to crun, runc and
// the kernel floor, measured in one run. Cases live in bench/*.mjs; results in bench/results/.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { bodies } from '../bench/bodies.mjs';
import { density } from '../bench/density.mjs';
import { floor } from '../bench/floor.mjs';
import { idmap } from '../bench/idmap.mjs';
import { imagePull } from '../bench/image-pull.mjs';
import { manyFunctions } from '../bench/many-functions.mjs';
import { withPlatform } from '../bench/platform.mjs';
import { LATENCY_KEYS, ratios, writeReport } from '../bench/report.mjs';
import { runtimes } from '../bench/runtimes.mjs';
import { snapshots } from '../bench/snapshots.mjs';
import { coldStarts, prewarmStarts } from '../bench/starts.mjs';
import { CLEAN_ENV, compile, onInterrupt, runInterruptCleanups } from '../bench/stats.mjs';
import { throughput } from '../bench/throughput.mjs';
import { frozenLoop, warmCalls } from '../bench/warm.mjs';
import { APT_BENCH, log, root, setup } from './lib/setup.mjs';

const quick = process.argv.includes('--quick');
// `--only floor,frozen` runs just those cases (names as in kase() below), for iterating on one figure.
const onlyArg = process.argv.find((a) => a.startsWith('--only='))?.slice(7);
const only = onlyArg ? new Set(onlyArg.split(',')) : null;
const N = quick
  ? {
      floor: 200,
      runtime: 20,
      cold: 8,
      prewarm: 8,
      warm: 40,
      seconds: 3,
      density: 4,
      snapshots: 50,
      many: [100, 20, 1000],
      pull: 1,
      bodies: 20,
    }
  : {
      floor: 2000,
      runtime: 200,
      cold: 50,
      prewarm: 50,
      warm: 300,
      seconds: 10,
      density: 10,
      snapshots: 300,
      many: [1000, 200, 10_000],
      pull: 5,
      bodies: 100,
    };

// Every process whose start is timed (and the platform's services) gets a clean environment:
// NODE_EXTRA_CA_CERTS alone adds ~50 ms to each node start, pyenv's python3 shim ~85 ms.
for (const k of Object.keys(process.env))
  if (/^(NODE_EXTRA_CA_CERTS|NODE_OPTIONS|GRPC_|PYENV|VIRTUAL_ENV)/.test(k)) delete process.env[k];
process.env.PATH = CLEAN_ENV.PATH;

const t0 = Date.now();
const bench = (msg) => process.stderr.write(`[bench ${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);
const result = {
  meta: {
    date: new Date().toISOString(),
    quick,
    host: `${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Linux ${os.release()}, Node ${process.version}`,
    runs: N,
    notes: [
      'crun and runc run in one long-lived `unshare -m` with /sys/fs/cgroup/unified unmounted (crun refuses hybrid cgroups; runc likewise for fairness); each run is timed inside it by a forked C timer, so the unshare is not timed.',
      'floe-runtime runs on the host layout (hybrid: v1 controllers + v2 freezer).',
      'All runtimes run the same bundle: every namespace but net, the same seccomp deny-list, Docker-like mounts; in-process times include delete, as `crun run` does.',
      'Timed processes get a clean env (PATH only; no NODE_EXTRA_CA_CERTS, no pyenv).',
    ],
    errors: [],
  },
};

let interrupted = false;

const PLATFORM_CASES = {
  'platform (pools off)': ['cold', 'density'],
  'platform (pools and sandboxes off)': ['cold'],
  'platform (pools on)': ['prewarm', 'warm', 'throughput', 'bodies'],
  'platform (pause grace 0)': ['frozen loop'],
  'platform (many functions)': ['many_functions'],
  'platform (userns off, pools off)': ['cold', 'userns'],
  'platform (userns off, pools on)': ['prewarm', 'warm', 'userns'],
};
const wanted = (name) => !only || only.has(name) || (PLATFORM_CASES[name] ?? []).some((c) => only.has(c));

async function kase(name, fn, alias) {
  if (interrupted || !(wanted(name) || (alias && wanted(alias)))) return;
  try {
    Object.assign(result, await fn());
  } catch (e) {
    bench(`${name} failed: ${e.stack ?? e}`);
    result.meta.errors.push(`${name}: ${e.message}`);
  }
}

const work = mkdtempSync(path.join(os.tmpdir(), 'floe-bench-'));
// The platforms' state dirs live in here: a function's root (an unprivileged host id) must
// reach their mount points, so the dir is searchable, not listable, by others.
chmodSync(work, 0o711);
onInterrupt(() => rmSync(work, { recursive: true, force: true }));
for (const sig of ['SIGINT', 'SIGTERM'])
  process.once(sig, async () => {
    interrupted = true;
    bench(`${sig}: cleaning up, no results written`);
    await runInterruptCleanups();
    process.exit(130);
  });
try {
  log('bench: setup');
  await setup({ apt: APT_BENCH, baseImages: false });
  compile('timeit');
  if (only) result.meta.notes.push(`Only: ${[...only].join(', ')}.`);
  await kase('floor', () => floor({ work, n: N.floor, log: bench }));
  await kase('runtimes', () => runtimes({ work, n: N.runtime, log: bench }));
  await kase('snapshots', () => snapshots({ work, n: N.snapshots, log: bench }));
  await kase('image pull', () => imagePull({ work, n: N.pull, log: bench }));
  await kase('platform (pools off)', () =>
    withPlatform({ work, label: 'cold', env: { FLOE_STEMCELLS: '0' }, log: bench }, async (client) => {
      await kase('cold', () => coldStarts(client, { n: N.cold, log: bench, work, notes: result.meta.notes }));
      await kase('density', () => density(client, { n: N.density, log: bench }));
      return {};
    }),
  );
  await kase('platform (pools on)', () =>
    withPlatform({ work, label: 'warm', env: { FLOE_STEMCELLS: '1' }, log: bench }, async (client) => {
      await kase('prewarm', () => prewarmStarts(client, { n: N.prewarm, log: bench }));
      await kase('warm', () => warmCalls(client, { n: N.warm, seconds: N.seconds, log: bench }));
      await kase('throughput', () => throughput(client, { seconds: N.seconds, log: bench }));
      await kase('bodies', () => bodies(client, { n: N.bodies, log: bench }));
      return {};
    }),
  );
  // The same cases with functions as host root (FLOE_USERNS=off): what the user namespace costs.
  const hostRoot = (r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k.replace(/_ms$/, '_hostroot_ms'), v]));
  // The same node cold starts with no prepared sandboxes: what they take off a start.
  await kase('platform (pools and sandboxes off)', () =>
    withPlatform(
      { work, label: 'cold-unprepared', env: { FLOE_STEMCELLS: '0', FLOE_SANDBOXES: '0' }, log: bench },
      async (client) => {
        await kase('cold', () =>
          coldStarts(client, {
            n: N.cold,
            log: bench,
            work,
            runtimes: ['node'],
            crun: false,
            key: 'cold_node_unprepared_ms',
          }),
        );
        return {};
      },
    ),
  );
  await kase('platform (userns off, pools off)', () =>
    withPlatform(
      { work, label: 'cold-hostroot', env: { FLOE_STEMCELLS: '0', FLOE_USERNS: 'off' }, log: bench },
      async (client) => {
        await kase(
          'cold',
          async () => hostRoot(await coldStarts(client, { n: N.cold, log: bench, work, runtimes: ['node'] })),
          'userns',
        );
        return {};
      },
    ),
  );
  await kase('platform (userns off, pools on)', () =>
    withPlatform(
      { work, label: 'warm-hostroot', env: { FLOE_STEMCELLS: '1', FLOE_USERNS: 'off' }, log: bench },
      async (client) => {
        await kase(
          'prewarm',
          async () => hostRoot(await prewarmStarts(client, { n: N.prewarm, log: bench })),
          'userns',
        );
        await kase(
          'warm',
          async () => {
            const w = await warmCalls(client, { n: N.warm, seconds: N.seconds, log: bench });
            return {
              hot_agent_hostroot_ms: w.hot_agent_ms,
              warm_agent_after_idle_hostroot_ms: w.warm_agent_after_idle_ms,
              warm_https_hostroot_ms: w.warm_https_ms,
            };
          },
          'userns',
        );
        return {};
      },
    ),
  );
  await kase('idmap', () => idmap({ work, n: N.density * 2, log: bench }), 'userns');
  await kase('platform (pause grace 0)', () =>
    withPlatform(
      { work, label: 'frozen', env: { FLOE_STEMCELLS: '0', FLOE_PAUSE_GRACE_MS: '0' }, log: bench },
      async (client) =>
        // A second platform with FLOE_INTERNAL_AUTH=off, so the loop over the agent's fast path
        // runs with and without peer authentication in alternating blocks: what it costs.
        withPlatform(
          {
            work,
            label: 'frozen-plain',
            env: { FLOE_STEMCELLS: '0', FLOE_PAUSE_GRACE_MS: '0', FLOE_INTERNAL_AUTH: 'off' },
            log: bench,
          },
          async (plain) => {
            await kase('frozen loop', () => frozenLoop(client, { n: N.warm * 3, log: bench, work, plain }));
            return {};
          },
        ),
    ),
  );
  await kase('platform (many functions)', () =>
    // The agent as `npm start` runs it (default memory, pools on): the issue's setting.
    withPlatform({ work, label: 'many', log: bench }, async (client) => {
      const [exec, node, list] = N.many;
      await kase('many_functions', () => manyFunctions(client, { exec, node, list, log: bench }));
      return {};
    }),
  );
} finally {
  try {
    rmSync(work, { recursive: true, force: true });
  } catch (e) {
    bench(`could not remove ${work}: ${e.message}`);
  }
}
// An interrupted run writes nothing: the signal handler exits once its cleanup is done.
if (interrupted) await new Promise(() => {});

for (const [k] of LATENCY_KEYS) result[k] ??= { p50: null, p95: null, p99: null, n: 0 };
result.throughput ??= [];
result.density ??= [];
result.create_per_s ??= null;
result.ratios = ratios(result);
result.meta.seconds = Math.round((Date.now() - t0) / 1000);
const report = only ? 'partial' : 'latest';
const dir = writeReport(result, report);

const pad = (s, n) => String(s).padEnd(n);
console.log(`\nFloe bench${quick ? ' (--quick)' : ''}, ${result.meta.seconds} s — ${result.meta.host}`);
for (const [k] of LATENCY_KEYS) {
  const v = result[k];
  console.log(`${pad(k, 24)} p50 ${pad(v.p50, 9)} p95 ${pad(v.p95, 9)} p99 ${pad(v.p99, 9)} n ${v.n}`);
}
for (const t of result.throughput)
  console.log(
    `throughput c=${pad(`${t.concurrency}${t.steady ? ' steady' : ''}`, 10)} ${pad(Math.round(t.rps), 6)} req/s  errors ${t.errors}  p50 ${t.latency_ms?.p50} ms  p99 ${t.latency_ms?.p99} ms  instances started during it ${t.scale_outs ?? '?'}${t.scale_outs ? ' (scale-out)' : ''}`,
  );
for (const d of result.density)
  console.log(
    `density ${pad(d.runtime, 7)} ${pad(d.frozen_mib, 7)} MiB/frozen instance  ${d.per_gib}/GiB  created ${d.create_per_s}/s`,
  );
console.log(`create_per_s ${result.create_per_s}`);
if (result.snapshots) {
  const s = result.snapshots;
  const p = (x) => `p50 ${x.p50} p99 ${x.p99} ms`;
  console.log(
    `snapshots: import ${s.import_gzip_mb_per_s} MB/s gzip, ${s.import_plain_mb_per_s} MB/s plain; prepare ${p(s.prepare_ms)}, capped ${p(s.prepare_capped_ms)}, remove ${p(s.remove_ms)}; mount+umount ${p(s.kernel_mount_umount_ms)}`,
  );
}
const m = result.many_functions;
if (m) {
  for (const c of m.calls)
    console.log(
      `many_functions ${pad(c.round, 6)} calls p50 ${pad(c.p50, 9)} p99 ${pad(c.p99, 9)} n ${c.n} ${JSON.stringify(c.starts)}`,
    );
  console.log(
    `many_functions ${m.functions.exec} exec + ${m.functions.node} node: 429s ${m.http_429}, frozen ${m.frozen}, containers ${m.containers_memory_mib} MiB, deploy ${m.deploy_per_s}/s, evictions ${JSON.stringify(m.evictions)}`,
  );
  console.log(
    `many_functions list ${m.list.functions}: unpaged p50 ${m.list.unpaged_ms.p50} ms, ${m.list.pages} pages of 1000 in ${m.list.paged_total_ms} ms; Redis ${m.redis_bytes_per_function} B/function; heartbeat ${m.heartbeat_bytes} B`,
  );
}
if (result.idmap) {
  const m = result.idmap;
  console.log(
    `idmapped layers: userns fd p50 ${m.userns_fd_ms.p50} ms, mount p50 ${m.idmapped_mount_ms.p50} ms per layer, ${m.idmapped_extra_bytes_per_range} extra bytes per range; a chowned copy instead: p50 ${m.chowned_copy_ms.p50} ms and ${m.chowned_copy_bytes_per_range} bytes per range`,
  );
}
const r = result.ratios;
console.log(
  `\nruntime vs crun: in-process ${r.runtime_inproc_vs_crun}×, CLI ${r.runtime_cli_vs_crun}× (runc ${r.runc_vs_crun}×)`,
);
console.log(
  `authenticated channels on the warm path: agent fast path loop ${r.warm_agent_auth_vs_plain}× the same loop with FLOE_INTERNAL_AUTH=off (p50 ${result.warm_agent_ms.p50} vs ${result.warm_agent_plain_ms.p50} ms, alternating blocks)`,
);
console.log(
  `warm vs floor (run beside it): through the agent's engine ${r.warm_engine_vs_floor}×, from another process over the fast path ${r.warm_agent_vs_floor}× (${r.warm_agent_vs_floor_alone}× the floor case alone); closed loops, frozen before each call; after 120 ms idle, agent ${r.warm_agent_after_idle_vs_floor_after_idle}× the floor after idle`,
);
console.log(
  `HTTPS after 120 ms idle vs the floor after idle: ${r.warm_https_after_idle_vs_floor_after_idle}× (p50 ${result.warm_https_ms.p50} vs ${result.floor_after_idle_ms.p50} ms; target ≤ 3×)`,
);
console.log(
  `  what no platform adds, after 120 ms idle, against the same floor: a bare Node HTTPS echo ${r.bare_https_after_idle_vs_floor_after_idle}× (${result.bare_https_after_idle_ms?.p50} ms; Floe is ${r.warm_https_after_idle_vs_bare}× it), the floor's cycle with a bare Node echo in the container ${r.floor_node_after_idle_vs_floor_after_idle}× (${result.floor_node_after_idle_ms?.p50} ms)`,
);
console.log(
  `byte-identical echo over HTTPS: 1 MiB p50 ${result.body_1mib_ms.p50} ms (target ≤ 10), 4 MiB p50 ${result.body_4mib_ms.p50} ms (target ≤ 40); a bare Node HTTPS echo beside it ${result.body_bare_1mib_ms?.p50} / ${result.body_bare_4mib_ms?.p50} ms (${r.body_1mib_vs_bare}× / ${r.body_4mib_vs_bare}×)`,
);
console.log(
  `platform overhead, one request in flight: p50 ${result.platform_overhead_ms.p50} ms, p99 ${result.platform_overhead_ms.p99} ms`,
);
console.log(
  `cold vs crun, same program (p50; target ≤ 0.8×): node ${r.cold_vs_crun_node}× (${result.cold_node_ms.p50} vs ${result.crun_node_ms.p50} ms; without prepared sandboxes ${r.unprepared_vs_crun_node}×, ${result.cold_node_unprepared_ms?.p50} ms; pre-warm ${r.prewarm_vs_crun_node}×), python ${r.cold_python_vs_crun_python}× (${result.cold_python_ms.p50} vs ${result.crun_python_ms.p50} ms), functions/alpine image ${r.cold_image_vs_crun_image}× (${result.cold_image_ms.p50} vs ${result.crun_image_ms.p50} ms)`,
);
console.log(
  `  node's own boot, no container, to its first byte: ${r.bare_node_vs_crun_node}× crun (${result.bare_node_ms?.p50} ms)`,
);
if (result.image_pull) {
  const p = result.image_pull;
  console.log(
    `image pull (${p.image_mib} MiB, local registry): floe ${p.floe_ms_p50} ms (${p.floe_nosync_ms_p50} ms without syncfs), skopeo copy ${p.skopeo_ms_p50} ms: ${p.ratio}× (${p.ratio_nosync}×; target ≤ 1.2×)`,
  );
}
console.log(
  `user namespaces on vs host root (same run, p50): cold ${r.userns_cold_vs_hostroot}×, pre-warm ${r.userns_prewarm_vs_hostroot}×, warm after idle ${r.userns_warm_vs_hostroot}×, hot ${r.userns_hot_vs_hostroot}×, warm HTTPS ${r.userns_https_vs_hostroot}×`,
);
// Every ratio of the report, including those no line above explains.
console.log(
  `\nratios (p50 / p50): ${Object.entries(r)
    .map(([k, v]) => `${k} ${v ?? '–'}×`)
    .join(', ')}`,
);
console.log(`\nwrote ${path.relative(root, dir)}/${report}.{json,md,svg}`);
if (result.meta.errors.length) {
  console.log(`errors:\n  ${result.meta.errors.join('\n  ')}`);
  process.exitCode = 1;
}
