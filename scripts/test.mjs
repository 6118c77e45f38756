#!/usr/bin/env node
// `npm test`: install what is missing, lint, then every project's tests (nx run-many) and the
// e2e suite, against a Redis on a free port. Ends with a plain `N passed, N failed` line.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startRedis } from './lib/redis.mjs';
import { APT_TEST, log, root, setup } from './lib/setup.mjs';

const totals = { passed: 0, failed: 0, skipped: 0 };
const failures = [];
// CI shows only the tail of the output, so the failed tests are named again just above the summary.
const failedTests = [];
const firstLines = (text = '') => text.split('\n').slice(0, 4).join(' | ').slice(0, 600);

function step(name, cmd, args, env = {}) {
  log(`${name}: ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, env: { ...process.env, ...env } });
  if (r.status !== 0) failures.push(`${name} (exit ${r.status ?? r.signal})`);
  return r.status === 0;
}

function countReports(dir) {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.json')) continue;
    const r = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
    totals.passed += r.numPassedTests ?? 0;
    totals.failed += r.numFailedTests ?? 0;
    totals.skipped += (r.numPendingTests ?? 0) + (r.numTodoTests ?? 0);
    // A file that failed to load counts as a failure even when it ran no test.
    for (const suite of r.testResults ?? []) {
      const file = path.relative(root, suite.name ?? '');
      if (suite.status === 'failed' && (suite.assertionResults ?? []).length === 0) {
        totals.failed += 1;
        failedTests.push(`${file}: ${firstLines(suite.message)}`);
      }
      for (const a of suite.assertionResults ?? []) {
        if (a.status === 'failed')
          failedTests.push(`${file} > ${a.fullName}: ${firstLines(a.failureMessages?.[0])}`);
      }
    }
  }
}

let redis;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'floe-test-'));
const reportDir = path.join(tmp, 'reports');
try {
  await setup({ apt: APT_TEST });
  const bin = (b) => path.join(root, 'node_modules/.bin', b);
  step('lint', bin('biome'), ['check', '.']);

  const env = { FLOE_TEST_REPORT_DIR: reportDir, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
  if (!process.env.REDIS_URL) {
    redis = await startRedis({ dir: path.join(tmp, 'redis'), persist: false });
    env.REDIS_URL = redis.url;
    log(`test Redis on ${redis.where} (password in ${redis.passwordFile})`);
  }
  step(
    'unit+integration',
    bin('nx'),
    ['run-many', '-t', 'test', '--parallel=1', '--outputStyle=stream', '--skipNxCache'],
    env,
  );
  step('e2e', bin('nx'), ['run', '@floe/e2e:e2e', '--outputStyle=stream', '--skipNxCache'], env);
  countReports(reportDir);
} catch (err) {
  failures.push(`setup: ${err.message}`);
} finally {
  redis?.child.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
}

for (const t of failedTests) log(`FAILED ${t}`);
if (failures.length) log(`failed steps: ${failures.join(', ')}`);
if (failures.length && totals.failed === 0) totals.failed = failures.length;
console.log(`${totals.passed} passed, ${totals.failed} failed, ${totals.skipped} skipped`);
process.exit(failures.length || totals.failed ? 1 : 0);
