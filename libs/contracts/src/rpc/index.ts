export * from './agent-invoke-client.js';
export * from './deadline-timer.js';
export * from './direct-invoker.js';
export * from './frame-body.js';
export * from './frame-codec.js';
export * from './frame-rpc.types.js';
export * from './frame-rpc-client.js';
export * from './frame-rpc-server.js';
