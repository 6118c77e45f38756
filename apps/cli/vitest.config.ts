import { floeVitest } from '../../vitest.shared.js';

// src/**: colocated specs of pure logic (argument parsing, packing, stack files, pinning).
export default floeVitest(import.meta.dirname);
