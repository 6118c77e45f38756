export * from './agent.js';
export * from './config.js';
export * from './errors.js';
export * from './function.js';
export * from './invoke.js';
export * from './mount.js';
export * from './patterns.js';
