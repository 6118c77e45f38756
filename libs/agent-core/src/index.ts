export * from './channel-server.js';
export * from './frame-codec.js';
export * from './instance-channel.js';
export * from './native-build.js';
export * from './instance-state.js';
export * from './log-store.js';
