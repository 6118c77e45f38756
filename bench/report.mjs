// Writes bench/results/latest.{json,md,svg} and the ratio lines printed at the end.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { benchDir } from './stats.mjs';

export const LATENCY_KEYS = [
  ['floor_warm_ms', 'floor: thaw + unix-socket round trip + freeze (runtime lib)'],
  ['floor_after_idle_ms', 'floor, after 120 ms idle'],
  ['floor_node_warm_ms', 'the floor with a bare Node echo server in the container instead of the C one'],
  ['floor_node_after_idle_ms', 'the same after 120 ms idle, in blocks alternating with the C floor'],
  ['runtime_inproc_true_ms', 'floe-runtime in process: run /bin/true'],
  ['runtime_cli_true_ms', 'floe-runtime CLI: run /bin/true'],
  ['crun_true_ms', 'crun run /bin/true'],
  ['runc_true_ms', 'runc run /bin/true'],
  ['cold_node_ms', 'cold start, node, via gateway (stemcells off; prepared sandboxes on)'],
  ['cold_node_unprepared_ms', 'cold start, node, via gateway, no prepared sandboxes (FLOE_SANDBOXES=0)'],
  ['crun_node_ms', 'crun run node to first byte'],
  ['bare_node_ms', 'the same node -e on the host, no container, to first byte'],
  ['cold_python_ms', 'cold start, python, via gateway (pools off)'],
  ['crun_python_ms', 'crun run python3 to first byte'],
  ['cold_image_ms', 'cold start, functions/alpine image (classic watchdog, cat), via gateway (pools off)'],
  ['crun_image_ms', "crun run of the same image's watchdog to its first HTTP answer"],
  ['prewarm_node_ms', 'pre-warm (stemcell) start, node, via gateway'],
  [
    'warm_engine_ms',
    "warm call of a frozen instance through the agent's engine in process (thaw, call, response, freeze)",
  ],
  ['warm_agent_ms', 'warm call of a frozen instance, agent fast path from another process, closed loop'],
  [
    'warm_agent_plain_ms',
    'same loop on a second platform with FLOE_INTERNAL_AUTH=off (no peer authentication), in alternating blocks',
  ],
  ['floor_interleaved_ms', 'floor, in blocks alternating with the loops above'],
  ['warm_agent_after_idle_ms', 'warm call of a frozen instance, agent fast path, after 120 ms idle'],
  ['warm_agent_internal_ms', 'same loop, time inside the agent (thaw, call, response)'],
  ['hot_agent_ms', 'warm call, agent fast path, back to back (not frozen)'],
  ['warm_https_ms', 'warm call of a frozen instance, HTTPS via gateway, after 120 ms idle (wrk)'],
  [
    'bare_https_after_idle_ms',
    'a bare Node HTTPS echo server, after 120 ms idle (the same wrk script, right after)',
  ],
  ['body_1mib_ms', '1 MiB binary body echoed byte-identical by a node function, HTTPS via gateway'],
  ['body_4mib_ms', '4 MiB binary body echoed byte-identical by a node function, HTTPS via gateway'],
  ['body_bare_1mib_ms', '1 MiB echoed by a bare Node HTTPS server (same client, alternating blocks)'],
  ['body_bare_4mib_ms', '4 MiB echoed by a bare Node HTTPS server (same client, alternating blocks)'],
  ['one_inflight_https_ms', 'warm call, HTTPS via gateway, one in flight (wrk -c1)'],
  ['platform_overhead_ms', 'platform overhead, one in flight (wrk -c1 − in-function time)'],
  ['platform_overhead_after_idle_ms', 'platform overhead, frozen after 120 ms idle'],
  ['cold_node_hostroot_ms', 'cold start, node, functions as host root (FLOE_USERNS=off, same run)'],
  ['prewarm_node_hostroot_ms', 'pre-warm start, node, functions as host root (FLOE_USERNS=off)'],
  [
    'hot_agent_hostroot_ms',
    'warm call, agent fast path, back to back, functions as host root (FLOE_USERNS=off)',
  ],
  [
    'warm_agent_after_idle_hostroot_ms',
    'warm call after 120 ms idle, agent fast path, as host root (FLOE_USERNS=off)',
  ],
  ['warm_https_hostroot_ms', 'warm call over HTTPS after 120 ms idle (wrk), as host root (FLOE_USERNS=off)'],
];

const ratio = (a, b) => (a?.p50 && b?.p50 ? Math.round((a.p50 / b.p50) * 100) / 100 : null);

export function ratios(r) {
  return {
    runtime_inproc_vs_crun: ratio(r.runtime_inproc_true_ms, r.crun_true_ms),
    runtime_cli_vs_crun: ratio(r.runtime_cli_true_ms, r.crun_true_ms),
    runc_vs_crun: ratio(r.runc_true_ms, r.crun_true_ms),
    // Against the floor measured in alternating blocks with it, where there is one.
    warm_engine_vs_floor: ratio(r.warm_engine_ms, r.floor_interleaved_ms),
    warm_agent_vs_floor: ratio(
      r.warm_agent_ms,
      r.floor_interleaved_ms?.p50 ? r.floor_interleaved_ms : r.floor_warm_ms,
    ),
    warm_agent_vs_floor_alone: ratio(r.warm_agent_ms, r.floor_warm_ms),
    // What authenticating the internal channels costs on the warm path: authenticated / not.
    warm_agent_auth_vs_plain: ratio(r.warm_agent_ms, r.warm_agent_plain_ms),
    warm_agent_internal_vs_floor: ratio(
      r.warm_agent_internal_ms,
      r.floor_interleaved_ms?.p50 ? r.floor_interleaved_ms : r.floor_warm_ms,
    ),
    warm_agent_after_idle_vs_floor_after_idle: ratio(r.warm_agent_after_idle_ms, r.floor_after_idle_ms),
    warm_https_after_idle_vs_floor_after_idle: ratio(r.warm_https_ms, r.floor_after_idle_ms),
    bare_https_after_idle_vs_floor_after_idle: ratio(r.bare_https_after_idle_ms, r.floor_after_idle_ms),
    floor_node_after_idle_vs_floor_after_idle: ratio(r.floor_node_after_idle_ms, r.floor_after_idle_ms),
    warm_https_after_idle_vs_bare: ratio(r.warm_https_ms, r.bare_https_after_idle_ms),
    body_1mib_vs_bare: ratio(r.body_1mib_ms, r.body_bare_1mib_ms),
    body_4mib_vs_bare: ratio(r.body_4mib_ms, r.body_bare_4mib_ms),
    cold_vs_crun_node: ratio(r.cold_node_ms, r.crun_node_ms),
    bare_node_vs_crun_node: ratio(r.bare_node_ms, r.crun_node_ms),
    unprepared_vs_crun_node: ratio(r.cold_node_unprepared_ms, r.crun_node_ms),
    prewarm_vs_crun_node: ratio(r.prewarm_node_ms, r.crun_node_ms),
    cold_python_vs_crun_python: ratio(r.cold_python_ms, r.crun_python_ms),
    cold_image_vs_crun_image: ratio(r.cold_image_ms, r.crun_image_ms),
    userns_cold_vs_hostroot: ratio(r.cold_node_ms, r.cold_node_hostroot_ms),
    userns_prewarm_vs_hostroot: ratio(r.prewarm_node_ms, r.prewarm_node_hostroot_ms),
    userns_warm_vs_hostroot: ratio(r.warm_agent_after_idle_ms, r.warm_agent_after_idle_hostroot_ms),
    userns_hot_vs_hostroot: ratio(r.hot_agent_ms, r.hot_agent_hostroot_ms),
    userns_https_vs_hostroot: ratio(r.warm_https_ms, r.warm_https_hostroot_ms),
  };
}

const f = (x) =>
  x === null || x === undefined ? '–' : x < 1 ? x.toFixed(3) : x < 100 ? x.toFixed(2) : x.toFixed(0);

function markdown(r) {
  const lines = [
    `# Floe bench ${r.meta.quick ? '(--quick) ' : ''}— ${r.meta.date}`,
    '',
    `${r.meta.host}. Each figure stands next to its baseline from the same run. ${r.meta.notes.join(' ')}`,
    '',
    '| case | key | p50 ms | p95 ms | p99 ms | n |',
    '|---|---|---:|---:|---:|---:|',
  ];
  for (const [k, label] of LATENCY_KEYS) {
    const v = r[k] ?? {};
    lines.push(`| ${label} | \`${k}\` | ${f(v.p50)} | ${f(v.p95)} | ${f(v.p99)} | ${v.n ?? 0} |`);
  }
  lines.push('', '| ratio (p50 / p50) | value |', '|---|---:|');
  for (const [k, v] of Object.entries(r.ratios)) lines.push(`| ${k} | ${v ?? '–'}× |`);
  lines.push(
    '',
    '## Throughput (wrk, HTTPS keep-alive, no-op node function)',
    '',
    '| concurrency | req/s | errors | p50 ms | p99 ms | instances started |',
    '|---:|---:|---:|---:|---:|---:|',
  );
  for (const t of r.throughput ?? [])
    lines.push(
      `| ${t.concurrency}${t.steady ? ' (steady)' : ''} | ${Math.round(t.rps)} | ${t.errors} | ${f(t.latency_ms?.p50)} | ${f(t.latency_ms?.p99)} | ${t.scale_outs ?? '–'} |`,
    );
  lines.push(
    '',
    '## Density (memory per frozen instance, cgroup v1 memory.usage_in_bytes)',
    '',
    '| runtime | frozen MiB | per GiB | before reclaim MiB | rss MiB | cache MiB | created/s |',
    '|---|---:|---:|---:|---:|---:|---:|',
  );
  for (const d of r.density ?? [])
    lines.push(
      `| ${d.runtime} | ${f(d.frozen_mib)} | ${d.per_gib} | ${f(d.frozen_mib_before_reclaim)} | ${f(d.rss_mib)} | ${f(d.cache_mib)} | ${d.create_per_s} |`,
    );
  lines.push('', `create_per_s (node): ${r.create_per_s}`);
  const m = r.many_functions;
  if (m) {
    lines.push(
      '',
      `## Many functions (${m.functions.exec} exec + ${m.functions.node} node on one agent, each called twice, 4 at a time)`,
      '',
      '| calls | p50 ms | p99 ms | n | starts |',
      '|---|---:|---:|---:|---|',
      ...m.calls.map(
        (c) => `| ${c.round} | ${f(c.p50)} | ${f(c.p99)} | ${c.n} | ${JSON.stringify(c.starts)} |`,
      ),
      '',
      `429s ${m.http_429}; frozen ${m.frozen}; containers ${m.containers_memory_mib} MiB (admitted ${m.agent_reserved_mib} of ${m.agent_capacity_mib} MiB, limits ${m.agent_limits_mib} MiB); evictions ${JSON.stringify(m.evictions)}; deploy ${m.deploy_per_s}/s; heartbeat ${m.heartbeat_bytes} B (function counts ${m.function_counts_bytes} B, written on change)`,
      `list of ${m.list.functions}: unpaged p50 ${f(m.list.unpaged_ms.p50)} ms, ${m.list.pages} pages of 1000 in ${m.list.paged_total_ms} ms (page p50 ${f(m.list.page_ms.p50)} ms), describe p50 ${f(m.list.describe_ms.p50)} ms; Redis ${m.redis_bytes_per_function} B/function; scheduler RSS ${m.scheduler_rss_mib} MiB`,
    );
  }
  if (r.idmap) {
    const m = r.idmap;
    lines.push(
      '',
      `Shared layers for user-namespaced functions (node image, ${m.layers} layer(s)): idmapped mounts cost a userns fd per host id range (p50 ${f(m.userns_fd_ms.p50)} ms) and one mount per range and layer (p50 ${f(m.idmapped_mount_ms.p50)} ms), ${m.idmapped_extra_bytes_per_range} bytes on disk; a chowned copy per range instead takes p50 ${f(m.chowned_copy_ms.p50)} ms and ${m.chowned_copy_bytes_per_range} bytes.`,
    );
  }
  lines.push('', '## Details', '');
  const detail = (k, label) => {
    const v = r[k];
    if (v?.n)
      lines.push(`- ${label} (\`${k}\`): p50 ${f(v.p50)}, p95 ${f(v.p95)}, p99 ${f(v.p99)} ms, n ${v.n}`);
  };
  for (const [k, v] of Object.entries(r.floor_parts_ms ?? {}))
    if (v?.n)
      lines.push(
        `- floor part ${k}: p50 ${f(v.p50)}, p99 ${f(v.p99)} ms (freezer ${r.floor_parts_ms.freezer})`,
      );
  detail('function_ms', 'in-function time reported by the instance, back to back');
  detail('function_frozen_ms', 'in-function time reported by the instance, frozen closed loop');
  detail('function_after_idle_ms', 'in-function time reported by the instance, after 120 ms idle');
  detail('hot_https_ms', "back-to-back HTTPS calls from Node's https client, instance not frozen");
  if (r.agent_internal_mean_ms)
    lines.push(
      `- agent's own histograms, mean per warm call: thaw ${r.agent_internal_mean_ms.thaw} ms, invocation ${r.agent_internal_mean_ms.invocation} ms`,
    );
  for (const k of ['platform_overhead_ms', 'platform_overhead_after_idle_ms'])
    if (r[k]?.method) lines.push(`- ${k} method: ${r[k].method}`);
  for (const k of ['cold_start_kinds', 'prewarm_start_kinds', 'warm_start_kinds'])
    if (r[k]) lines.push(`- ${k}: ${JSON.stringify(r[k])}`);
  if (r.meta.errors.length) lines.push('', '## Errors', '', ...r.meta.errors.map((e) => `- ${e}`));
  lines.push('');
  return lines.join('\n');
}

/** Horizontal bars per case on a log scale: p99 (light), p95, p50 (dark) from the same origin. */
function svg(r) {
  const rows = LATENCY_KEYS.filter(([k]) => r[k]?.p50 > 0);
  const W = 960;
  const left = 360;
  const right = 30;
  const rowH = 30;
  const top = 40;
  const H = top + rows.length * rowH + 50;
  const max = Math.max(...rows.map(([k]) => r[k].p99 ?? r[k].p50));
  const lo = 10 ** Math.floor(Math.log10(Math.min(...rows.map(([k]) => r[k].p50))));
  const hi = 10 ** Math.ceil(Math.log10(max));
  const x = (v) =>
    left +
    ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * (W - left - right);
  const esc = (s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">Floe bench${r.meta.quick ? ' (--quick)' : ''}: latency per case, ms, log scale — p50 (dark), p95, p99 (light)</text>`,
  ];
  for (let d = lo; d <= hi; d *= 10) {
    out.push(`<line x1="${x(d)}" x2="${x(d)}" y1="${top - 5}" y2="${H - 40}" stroke="#ddd"/>`);
    out.push(
      `<text x="${x(d)}" y="${H - 25}" text-anchor="middle" fill="#555">${d >= 1 ? d : d.toPrecision(1)}</text>`,
    );
  }
  rows.forEach(([k, label], i) => {
    const y = top + i * rowH;
    const v = r[k];
    out.push(`<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(label)}</text>`);
    for (const [p, color] of [
      ['p99', '#c6dbef'],
      ['p95', '#6baed6'],
      ['p50', '#08519c'],
    ])
      if (v[p] > 0)
        out.push(
          `<rect x="${left}" y="${y + 5}" width="${Math.max(1, x(v[p]) - left)}" height="18" fill="${color}"><title>${k} ${p} ${v[p]} ms</title></rect>`,
        );
    out.push(
      `<text x="${Math.min(x(v.p99 ?? v.p50) + 4, W - 120)}" y="${y + 18}" fill="#222">${f(v.p50)} / ${f(v.p95)} / ${f(v.p99)}</text>`,
    );
  });
  out.push(
    `<text x="${left}" y="${H - 8}" fill="#555">ms (p50 / p95 / p99 printed per bar)</text>`,
    '</svg>',
  );
  return out.join('\n');
}

/** `name` is `latest` for a whole run; a run of some cases (`--only`) writes `partial`. */
export function writeReport(r, name = 'latest') {
  const dir = path.join(benchDir, 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), `${JSON.stringify(r, null, 2)}\n`);
  writeFileSync(path.join(dir, `${name}.md`), markdown(r));
  writeFileSync(path.join(dir, `${name}.svg`), svg(r));
  return dir;
}
