export const GATEWAY_CONFIG = Symbol('GATEWAY_CONFIG');
/** The resolved admin credentials ({ user, password }), after first-start generation. */
export const ADMIN_CREDENTIALS = Symbol('ADMIN_CREDENTIALS');
