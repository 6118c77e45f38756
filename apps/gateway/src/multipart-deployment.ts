import { InvalidArgumentError } from '@floe/contracts';
import type { FastifyRequest } from 'fastify';

/**
 * Reads `multipart/form-data` with a `deployment` JSON part and a `code` file part into one
 * FunctionDeployment with `code` base64, as if it had been sent as JSON. The code file is
 * bounded by the multipart fileSize limit (FLOE_MAX_DEPLOY_BYTES → 413).
 */
export async function readMultipartDeployment(req: FastifyRequest): Promise<unknown> {
  let deployment: unknown;
  let code: Buffer | undefined;
  for await (const part of req.parts()) {
    if (part.type === 'file') {
      if (part.fieldname !== 'code')
        throw new InvalidArgumentError(part.fieldname, "unexpected file part (only 'code')");
      code = await part.toBuffer();
    } else if (part.fieldname === 'deployment') {
      // @fastify/multipart parses a part sent with `Content-Type: application/json` itself.
      if (typeof part.value === 'object' && part.value !== null) deployment = part.value;
      else
        try {
          deployment = JSON.parse(String(part.value));
        } catch (err) {
          throw new InvalidArgumentError('deployment', `not JSON: ${(err as Error).message}`);
        }
    }
  }
  if (typeof deployment !== 'object' || deployment === null)
    throw new InvalidArgumentError('deployment', 'required: a JSON part with the FunctionDeployment');
  return code === undefined ? deployment : { ...deployment, code: code.toString('base64') };
}
