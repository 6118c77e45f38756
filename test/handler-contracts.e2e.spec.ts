import { randomBytes } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { codeArchive, deploy, request, uniqueName } from './support/client.js';

// Functions ported from OpenFaaS templates or from Lambda run unchanged: the same function,
// written to each contract, answers the same request alike.
const NODE_OPENFAAS = `'use strict'
module.exports = async (event, context) => {
  const result = { body: event.body, query: event.query, path: event.path, method: event.method };
  return context.status(201).headers({ 'x-contract': String(event.headers['x-contract']) }).succeed(result);
}`;
const NODE_LAMBDA = `exports.handler = async (event, context) => ({
  statusCode: 201,
  headers: { 'content-type': 'application/json', 'x-contract': String(event.headers['x-contract']) },
  body: JSON.stringify({ body: event.body, query: event.queryStringParameters, path: event.path,
    method: event.httpMethod }),
});`;
const PY_OPENFAAS = `import json

def handle(event, context):
    return {
        "statusCode": 201,
        "headers": {"x-contract": event.headers.get("X-Contract")},
        "body": {"body": json.loads(event.body), "query": dict(event.query), "path": event.path,
                 "method": event.method},
    }
`;
const PY_LAMBDA = `import json

def handle(event, context):
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-contract": event["headers"]["x-contract"]},
        "body": json.dumps({"body": event["body"], "query": event["queryStringParameters"],
                            "path": event["path"], "method": event["httpMethod"]}),
    }
`;

const deployed: string[] = [];

async function deployFn(prefix: string, runtime: string, handler: string, files: Record<string, string>) {
  const name = uniqueName(prefix);
  const res = await deploy({ service: name, runtime, handler, code: codeArchive(files) });
  expect(res.status, res.text).toBeLessThan(300);
  deployed.push(name);
  return name;
}

afterAll(async () => {
  for (const name of deployed)
    await request('DELETE', '/system/functions', { body: { functionName: name }, auth: true });
});

describe('handler contracts', () => {
  for (const [runtime, styles] of [
    [
      'node',
      [
        ['OpenFaaS node18/node20 template', 'handler.js', { 'handler.js': NODE_OPENFAAS }],
        ['Lambda', 'index.handler', { 'index.js': NODE_LAMBDA }],
      ],
    ],
    [
      'python',
      [
        ['OpenFaaS python3-http template', 'handler.py', { 'handler.py': PY_OPENFAAS }],
        ['Lambda', 'handler.handle', { 'handler.py': PY_LAMBDA }],
      ],
    ],
  ] as const) {
    it(`${runtime}: the same function in OpenFaaS template style and in Lambda style answers alike`, async () => {
      const answers = [];
      for (const [style, handler, files] of styles) {
        const name = await deployFn(`hc-${runtime}`, runtime, handler, files);
        const res = await request('PATCH', `/function/${name}/items/7?color=red&n=2`, {
          body: { id: 7, tags: ['a', 'b'] },
          headers: { 'x-contract': style },
        });
        expect(res.status, `${style}: ${res.text}`).toBe(201);
        expect(res.headers['x-contract']).toBe(style);
        expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
        answers.push(res.json());
      }
      expect(answers[0]).toEqual({
        body: { id: 7, tags: ['a', 'b'] },
        query: { color: 'red', n: '2' },
        path: '/items/7',
        method: 'PATCH',
      });
      expect(answers[1]).toEqual(answers[0]);
    });
  }

  it('node: a 1 MiB binary body echoed by event.body comes back byte-identical', async () => {
    const name = await deployFn('hc-bin', 'node', 'index.js', {
      'index.js': 'module.exports = async (e) => ({ statusCode: 200, body: e.body });',
    });
    const body = randomBytes(1024 * 1024);
    for (const contentType of ['application/octet-stream', 'application/x-www-form-urlencoded']) {
      const res = await request('POST', `/function/${name}`, {
        body,
        headers: { 'content-type': contentType },
      });
      expect(res.status, res.text.slice(0, 200)).toBe(200);
      expect(res.body.length, contentType).toBe(body.length);
      expect(res.body.equals(body), contentType).toBe(true);
    }
  });
});
