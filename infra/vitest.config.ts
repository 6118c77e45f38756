import { floeVitest } from '../vitest.shared.js';

export default floeVitest(import.meta.dirname, { include: ['**/*.spec.ts'], testTimeout: 180_000 });
