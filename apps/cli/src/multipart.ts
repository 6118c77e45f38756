import { randomBytes } from 'node:crypto';

/**
 * A `multipart/form-data` body with a `deployment` JSON part and a `code` file part, the form
 * `POST|PUT /floe/functions` reads, so code travels as bytes instead of base64 in JSON.
 */
export function deploymentForm(deployment: unknown, code: Buffer): { body: Buffer; contentType: string } {
  const boundary = `floe-${randomBytes(12).toString('hex')}`;
  const body = Buffer.concat([
    Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="deployment"\r\nContent-Type: application/json\r\n\r\n${JSON.stringify(deployment)}\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="code"; filename="code.tar.gz"\r\nContent-Type: application/gzip\r\n\r\n`,
    ),
    code,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}
