import { floeVitest } from '../../vitest.shared.js';

// src/**: colocated specs of pure logic; test/**: the gateway booted over real HTTPS against a fake scheduler.
export default floeVitest(import.meta.dirname, { include: ['src/**/*.spec.ts', 'test/**/*.spec.ts'] });
