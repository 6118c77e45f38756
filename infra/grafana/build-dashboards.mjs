// Writes the Grafana dashboards in ./dashboards from the panel lists below, so that every
// panel has the same shape and the queries live in one readable place. Run it after editing:
//   node infra/grafana/build-dashboards.mjs
// The JSON it writes is committed: Grafana's file provisioning reads it as is.
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const DS = { type: 'prometheus', uid: 'prometheus' };
// An output directory as the first argument is for the spec, which compares it with the committed JSON.
const out = process.argv[2] ?? path.join(import.meta.dirname, 'dashboards');

/** One query: PromQL and its legend. */
const q = (expr, legend = '') => ({ expr, legend });

/**
 * A dashboard from rows of panels. Each panel: { title, description?, unit?, type?, w?, targets: q[] }.
 * Panels flow left to right, 24 columns wide, 8 rows high.
 */
function dashboard({
  uid,
  title,
  description,
  tags,
  rows,
  templating = [],
  refresh = '10s',
  time = 'now-1h',
}) {
  const panels = [];
  let id = 1;
  let y = 0;
  for (const row of rows) {
    panels.push({
      type: 'row',
      id: id++,
      title: row.title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    for (const p of row.panels) {
      const w = p.w ?? 24 / row.panels.length;
      if (x + w > 24) {
        x = 0;
        y += 8;
      }
      panels.push(panel(p, id++, { h: 8, w, x, y }));
      x += w;
    }
    y += 8;
  }
  return {
    uid,
    title,
    description,
    tags,
    editable: true,
    graphTooltip: 1,
    schemaVersion: 39,
    version: 1,
    refresh,
    time: { from: time, to: 'now' },
    timepicker: {},
    timezone: 'browser',
    annotations: { list: [] },
    links: [],
    templating: { list: templating },
    panels,
  };
}

function panel(p, id, gridPos) {
  const type = p.type ?? 'timeseries';
  return {
    id,
    type,
    title: p.title,
    description: p.description ?? '',
    datasource: DS,
    gridPos,
    fieldConfig: {
      defaults: { unit: p.unit ?? 'short', ...(p.min !== undefined ? { min: p.min } : {}) },
      overrides: [],
    },
    options:
      type === 'stat'
        ? {
            reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
            colorMode: 'value',
            graphMode: 'area',
          }
        : type === 'table'
          ? { showHeader: true }
          : {
              legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
              tooltip: { mode: 'multi', sort: 'desc' },
            },
    targets: p.targets.map((t, i) => ({
      datasource: DS,
      refId: String.fromCharCode(65 + i),
      expr: t.expr,
      legendFormat: t.legend || '__auto',
      range: type !== 'table',
      instant: type === 'table',
      ...(type === 'table' ? { format: 'table' } : {}),
    })),
  };
}

const quantiles = (metric, by, selector = '', qs = [0.5, 0.95, 0.99]) =>
  qs.map((x) =>
    q(
      `histogram_quantile(${x}, sum by (le${by ? `, ${by}` : ''}) (rate(${metric}_bucket${selector}[$__rate_interval])))`,
      `p${x * 100}${by ? ` {{${by}}}` : ''}`,
    ),
  );

// ---------------------------------------------------------------------------------------------
// Floe overview: the whole platform on one screen.
const overview = dashboard({
  uid: 'floe-overview',
  title: 'Floe overview',
  description:
    'Invocations, latency by start kind, the container pool, failures, async queue and agents. Metrics: docs/metrics.md.',
  tags: ['floe'],
  rows: [
    {
      title: 'Invocations',
      panels: [
        {
          title: 'Invocation rate by function and code',
          unit: 'reqps',
          targets: [
            q(
              'sum by (function_name, code) (rate(gateway_function_invocation_total[$__rate_interval]))',
              '{{function_name}} {{code}}',
            ),
          ],
        },
        {
          title: 'Errors (5xx) by function and code',
          unit: 'reqps',
          targets: [
            q(
              'sum by (function_name, code) (rate(gateway_function_invocation_total{code=~"5.."}[$__rate_interval]))',
              '{{function_name}} {{code}}',
            ),
          ],
        },
        {
          title: 'Error ratio by function',
          description: '5xx answers over all answers, per function (OOM kills answer 502, timeouts 504).',
          unit: 'percentunit',
          min: 0,
          targets: [
            q(
              'sum by (function_name) (rate(gateway_function_invocation_total{code=~"5.."}[$__rate_interval])) / sum by (function_name) (rate(gateway_function_invocation_total[$__rate_interval]))',
              '{{function_name}}',
            ),
          ],
        },
      ],
    },
    {
      title: 'Latency and starts',
      panels: [
        {
          title: 'Invocation latency by start kind',
          description:
            'Time through the node-agent (thaw, call, response) by how the instance was obtained: warm, prewarm (stemcell) or cold.',
          unit: 's',
          targets: quantiles('floe_agent_invocation_duration_seconds', 'start'),
        },
        {
          title: 'Gateway overhead by start kind',
          description: 'End to end through the gateway minus time inside the function.',
          unit: 's',
          targets: quantiles('floe_gateway_invoke_overhead_seconds', 'start', '', [0.5, 0.99]),
        },
        {
          title: 'Cold-start ratio',
          description:
            'Cold starts over all instance starts (warm + prewarm + cold). 0 when every start was warm or from a stemcell.',
          unit: 'percentunit',
          min: 0,
          targets: [
            q(
              '(sum(rate(floe_agent_starts_total{kind="cold"}[$__rate_interval])) or vector(0)) / sum(rate(floe_agent_starts_total[$__rate_interval]))',
              'cold ratio',
            ),
          ],
        },
        {
          title: 'Starts by kind and runtime',
          unit: 'ops',
          targets: [
            q(
              'sum by (kind, runtime) (rate(floe_agent_starts_total[$__rate_interval]))',
              '{{kind}} {{runtime}}',
            ),
          ],
        },
      ],
    },
    {
      title: 'Container pool',
      panels: [
        {
          title: 'Containers by state and runtime',
          targets: [q('sum by (state, runtime) (floe_agent_containers)', '{{state}} {{runtime}}')],
        },
        {
          title: 'Start duration p99 by kind',
          unit: 's',
          targets: quantiles('floe_agent_start_duration_seconds', 'kind', '', [0.99]),
        },
        {
          title: 'Freeze and thaw latency',
          description: 'cgroup freeze until the kernel reports frozen, and thaw.',
          unit: 's',
          targets: [
            ...quantiles('floe_agent_freeze_duration_seconds', '', '', [0.5, 0.99]).map((t) => ({
              ...t,
              legend: `freeze ${t.legend}`,
            })),
            ...quantiles('floe_agent_thaw_duration_seconds', '', '', [0.5, 0.99]).map((t) => ({
              ...t,
              legend: `thaw ${t.legend}`,
            })),
          ],
        },
      ],
    },
    {
      title: 'Failures and resources',
      panels: [
        {
          title: 'OOM kills by function',
          unit: 'short',
          targets: [
            q(
              'sum by (function_name) (increase(floe_agent_function_failures_total{kind="oom"}[$__rate_interval]))',
              '{{function_name}}',
            ),
          ],
        },
        {
          title: 'Instance failures by kind',
          targets: [
            q('sum by (kind) (increase(floe_agent_function_failures_total[$__rate_interval]))', '{{kind}}'),
          ],
        },
        {
          title: 'CPU throttling by function',
          description: 'CFS periods per second in which live instances of the function were throttled.',
          targets: [
            q(
              'sum by (function_name) (rate(floe_agent_function_cpu_throttled_periods[$__rate_interval]))',
              '{{function_name}}',
            ),
          ],
        },
        {
          title: 'Memory by function',
          unit: 'bytes',
          targets: [q('sum by (function_name) (floe_agent_function_memory_bytes)', '{{function_name}}')],
        },
      ],
    },
    {
      title: 'Scheduler and async',
      panels: [
        {
          title: 'Async queue',
          description:
            'Accepted async calls not yet completed, dead letters, and sync calls waiting for capacity.',
          targets: [
            q('max(scheduler_async_backlog)', 'async backlog'),
            q('max(scheduler_async_dead_letters)', 'dead letters'),
            q('sum(scheduler_queue_depth)', 'sync queue'),
          ],
        },
        {
          title: 'Async attempts by outcome',
          unit: 'ops',
          targets: [
            q('sum by (outcome) (rate(scheduler_async_attempts_total[$__rate_interval]))', '{{outcome}}'),
          ],
        },
        {
          title: 'Placements by result',
          unit: 'ops',
          targets: [q('sum by (result) (rate(scheduler_placements_total[$__rate_interval]))', '{{result}}')],
        },
        {
          title: 'Replicas by function',
          targets: [q('sum by (function_name) (scheduler_replicas)', '{{function_name}}')],
        },
      ],
    },
    {
      title: 'Agents',
      panels: [
        {
          title: 'Agents',
          description: 'Agents the scheduler knows by state, and agents Prometheus can scrape.',
          targets: [
            q('sum by (state) (scheduler_agents)', '{{state}}'),
            q('sum(up{job="node-agent"})', 'scraped'),
          ],
        },
        {
          title: 'Agent memory capacity and reservations',
          unit: 'bytes',
          targets: [
            q('sum by (instance) (floe_agent_memory_capacity_bytes)', 'capacity {{instance}}'),
            q('sum by (instance) (floe_agent_memory_reserved_bytes)', 'reserved {{instance}}'),
          ],
        },
        {
          title: 'Heartbeats by result',
          unit: 'ops',
          targets: [
            q(
              'sum by (instance, result) (rate(floe_agent_heartbeats_total[$__rate_interval]))',
              '{{instance}} {{result}}',
            ),
          ],
        },
      ],
    },
    {
      title: 'Processes',
      panels: [
        {
          title: 'Event loop lag p99',
          description: 'A Node service whose event loop lags delays every request it handles.',
          unit: 's',
          targets: [q('max by (job, instance) (nodejs_eventloop_lag_p99_seconds)', '{{job}} {{instance}}')],
        },
        {
          title: 'Resident memory',
          unit: 'bytes',
          targets: [q('sum by (job, instance) (process_resident_memory_bytes)', '{{job}} {{instance}}')],
        },
        {
          title: 'CPU',
          unit: 'percentunit',
          targets: [
            q(
              'sum by (job, instance) (rate(process_cpu_seconds_total[$__rate_interval]))',
              '{{job}} {{instance}}',
            ),
          ],
        },
      ],
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// Per-function drill-down.
const FN = 'function_name="$function"';
const fnDashboard = dashboard({
  uid: 'floe-function',
  title: 'Floe function',
  description:
    'One function: rate, errors, latency, starts, failures and resources. Pick it in the function variable.',
  tags: ['floe'],
  templating: [
    {
      name: 'function',
      label: 'function',
      type: 'query',
      datasource: DS,
      query: { query: 'label_values(gateway_function_invocation_total, function_name)', refId: 'function' },
      definition: 'label_values(gateway_function_invocation_total, function_name)',
      refresh: 2,
      sort: 1,
      includeAll: false,
      multi: false,
      current: {},
      options: [],
    },
  ],
  rows: [
    {
      title: 'Traffic',
      panels: [
        {
          title: 'Invocations by code',
          unit: 'reqps',
          targets: [
            q(`sum by (code) (rate(gateway_function_invocation_total{${FN}}[$__rate_interval]))`, '{{code}}'),
          ],
        },
        {
          title: 'Error ratio',
          unit: 'percentunit',
          min: 0,
          targets: [
            q(
              `sum(rate(gateway_function_invocation_total{${FN},code=~"5.."}[$__rate_interval])) / sum(rate(gateway_function_invocation_total{${FN}}[$__rate_interval]))`,
              '5xx ratio',
            ),
          ],
        },
        {
          title: 'Invocations started',
          unit: 'reqps',
          targets: [q(`sum(rate(gateway_function_invocation_started{${FN}}[$__rate_interval]))`, 'started')],
        },
      ],
    },
    {
      title: 'Latency',
      panels: [
        {
          title: 'End-to-end latency (gateway)',
          unit: 's',
          targets: quantiles('gateway_functions_seconds', '', `{${FN}}`),
        },
        {
          title: 'Latency by start kind (agent)',
          unit: 's',
          targets: quantiles('floe_agent_invocation_duration_seconds', 'start', `{${FN}}`, [0.5, 0.99]),
        },
        {
          title: 'Calls by start kind',
          unit: 'ops',
          targets: [
            q(
              `sum by (start) (rate(floe_agent_invocation_duration_seconds_count{${FN}}[$__rate_interval]))`,
              '{{start}}',
            ),
          ],
        },
      ],
    },
    {
      title: 'Instances and resources',
      panels: [
        {
          title: 'Replicas',
          targets: [
            q(`sum(scheduler_replicas{${FN}})`, 'scheduler'),
            q(`sum(gateway_service_count{${FN}})`, 'gateway'),
          ],
        },
        {
          title: 'Memory',
          unit: 'bytes',
          targets: [q(`sum by (instance) (floe_agent_function_memory_bytes{${FN}})`, '{{instance}}')],
        },
        {
          title: 'CPU throttled periods per second',
          targets: [
            q(`sum(rate(floe_agent_function_cpu_throttled_periods{${FN}}[$__rate_interval]))`, 'throttled'),
          ],
        },
        {
          title: 'Failures by kind',
          targets: [
            q(
              `sum by (kind) (increase(floe_agent_function_failures_total{${FN}}[$__rate_interval]))`,
              '{{kind}}',
            ),
          ],
        },
      ],
    },
  ],
});

// ---------------------------------------------------------------------------------------------
// The public OpenFaaS dashboard (stefanprodan/faas-grafana, grafana/dashboards/openfaas-dash.json,
// and its Grafana 9 edition with "Total Functions" and "Functions list") with its queries byte for
// byte, plus one per-function 200 OK rate panel in the same style. Only gateway_* metrics: it must
// work on Floe unchanged, as it works on an OpenFaaS gateway.
const openfaas = dashboard({
  uid: 'openfaas',
  title: 'OpenFaaS',
  description:
    "The public OpenFaaS Grafana dashboard, queries unchanged, served by Floe's OpenFaaS-compatible gateway metrics.",
  tags: ['openfaas', 'floe'],
  refresh: '5s',
  rows: [
    {
      title: 'Functions',
      panels: [
        {
          title: 'Total Functions',
          type: 'stat',
          w: 4,
          targets: [q('sum(group by (function_name) (sum(gateway_service_count{}) without (timestamp)))')],
        },
        {
          title: 'Total requests - 200 OK',
          w: 8,
          targets: [q('scalar( sum( gateway_function_invocation_total {  code="200"} ))')],
        },
        {
          title: 'Functions list',
          type: 'table',
          w: 12,
          targets: [q('sum(gateway_service_count{}) without (timestamp)', '{{function_name}}')],
        },
      ],
    },
    {
      title: 'Traffic',
      panels: [
        {
          title: 'Function rate',
          targets: [q('rate ( gateway_function_invocation_total [20s])', '{{ function_name }} {{code}}')],
        },
        { title: 'Replica scaling', targets: [q('gateway_service_count', '{{function_name}} ')] },
      ],
    },
    {
      title: 'Duration',
      panels: [
        {
          title: 'Execution duration (s)',
          targets: [
            q(
              '(rate(gateway_functions_seconds_sum[20s]) / rate(gateway_functions_seconds_count[20s]))',
              '{{function_name}} ',
            ),
          ],
        },
        {
          title: 'Successful requests per second',
          targets: [
            q(
              'sum(rate(gateway_function_invocation_total{code="200"}[20s])) by (function_name)',
              '{{function_name}}',
            ),
          ],
        },
      ],
    },
  ],
});

for (const d of [overview, fnDashboard, openfaas]) {
  const file = path.join(out, `${d.uid}.json`);
  writeFileSync(file, `${JSON.stringify(d, null, 2)}\n`);
  process.stdout.write(`wrote ${path.relative(process.cwd(), file)}\n`);
}
