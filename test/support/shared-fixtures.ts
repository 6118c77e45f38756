import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { request } from './client.js';

/** `../shared` beside the repository: faas-cli and real OpenFaaS images (absent in a bare clone). */
const SHARED = path.resolve(import.meta.dirname, '../../../shared');

/** The faas-cli binary: `$FAAS_CLI`, else `../shared/tools/faas-cli`; undefined when absent. */
export function faasCli(): string | undefined {
  const bin = process.env.FAAS_CLI || path.join(SHARED, 'tools/faas-cli');
  return existsSync(bin) ? bin : undefined;
}

/** A fixture image archive (`functions-alpine`), docker-save first, else OCI; undefined when absent. */
export function fixtureImage(name: string): string | undefined {
  const dir = path.join(SHARED, 'fixtures/openfaas-images');
  return [`${name}.docker.tar`, `${name}.oci.tar`].map((f) => path.join(dir, f)).find((f) => existsSync(f));
}

/** Uploads an image archive under `ref`, as a user does with POST /floe/images. */
export async function importImage(archive: string, ref: string): Promise<void> {
  const r = await request('POST', `/floe/images?ref=${encodeURIComponent(ref)}`, {
    body: readFileSync(archive),
    headers: { 'content-type': 'application/x-tar' },
    auth: true,
  });
  if (r.status >= 300) throw new Error(`import ${ref}: ${r.status} ${r.text}`);
}
