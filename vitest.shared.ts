import path from 'node:path';
import { defineConfig } from 'vitest/config';

/**
 * One vitest config shape for every project. Sources of sibling workspaces are
 * resolved through the `@floe/source` export condition, so tests never need a build.
 * When FLOE_TEST_REPORT_DIR is set (by scripts/test.mjs) each project also writes a
 * JSON report that the runner sums into the plain `N passed, N failed` line.
 */
export function floeVitest(projectDir: string, overrides: { testTimeout?: number; include?: string[] } = {}) {
  const name = path.basename(projectDir);
  const reportDir = process.env.FLOE_TEST_REPORT_DIR;
  return defineConfig({
    resolve: { conditions: ['@floe/source', 'import', 'node', 'default'] },
    ssr: { resolve: { conditions: ['@floe/source', 'import', 'node', 'default'] } },
    test: {
      root: projectDir,
      include: overrides.include ?? ['src/**/*.spec.ts'],
      environment: 'node',
      testTimeout: overrides.testTimeout ?? 30_000,
      hookTimeout: 60_000,
      // Kernel-facing tests share cgroups and mounts: run files one at a time.
      fileParallelism: false,
      pool: 'forks',
      reporters: reportDir ? ['default', 'json'] : ['default'],
      outputFile: reportDir ? { json: path.join(reportDir, `${name}.json`) } : undefined,
    },
  });
}
