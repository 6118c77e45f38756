export * from './frame-rpc.types.js';
export * from './frame-rpc-client.js';
export * from './frame-rpc-server.js';
export * from './json-frames.js';
