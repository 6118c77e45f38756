import { floeVitest } from '../vitest.shared.js';

// Black-box e2e: specs drive a running platform over HTTPS, as a user would.
const config = floeVitest(import.meta.dirname, { include: ['**/*.e2e.spec.ts'], testTimeout: 120_000 });
config.test = { ...config.test, globalSetup: ['./global-setup.ts'], setupFiles: ['./support/setup.ts'] };
export default config;
