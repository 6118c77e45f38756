import { floeVitest } from '../../vitest.shared.js';

export default floeVitest(import.meta.dirname);
