export const AGENT = Symbol('AGENT');
export const AGENT_CONFIG = Symbol('AGENT_CONFIG');
