import https from 'node:https';

/**
 * Whether registry.npmjs.org answers from this host: the tests that install real npm
 * packages skip, saying so, where it does not (CI without internet).
 */
export function npmReachable(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get('https://registry.npmjs.org/is-number', { timeout: 5000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
  });
}
