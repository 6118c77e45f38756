export * from './errors.js';
export * from './mount.js';
