export const SCHEDULER_CONFIG = Symbol('SCHEDULER_CONFIG');
export const REDIS = Symbol('REDIS');
export const SCHEDULER = Symbol('SCHEDULER');
