import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { LogStore } from './log-store.js';

const dirs: string[] = [];
function store(max?: number) {
  const d = mkdtempSync(path.join(os.tmpdir(), 'floe-logs-'));
  dirs.push(d);
  return new LogStore(d, max);
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const meta = { function: 'f', namespace: 'ns', instance: 'i1' };
const settle = () => new Promise((r) => setTimeout(r, 50));

describe(LogStore.name, () => {
  it('captures lines from a stream with timestamps and reads them back with tail', async () => {
    const s = store();
    const src = new PassThrough();
    s.capture(src, meta, 'stdout');
    src.write('one\ntw');
    src.write('o\nthree\n');
    src.end();
    await settle();
    const lines = await s.read('ns', 'f', { tail: 2 });
    expect(lines.map((l) => l.text)).toEqual(['two', 'three']);
    expect(lines[0]?.ts).toMatch(/^\d{4}-/);
    s.close();
  });

  it('follows new lines', async () => {
    const s = store();
    const got: string[] = [];
    const stop = s.follow('ns', 'f', (l) => got.push(l.text));
    s.append({ ...meta, stream: 'stderr', text: 'x', ts: new Date().toISOString() });
    stop();
    s.append({ ...meta, stream: 'stderr', text: 'y', ts: new Date().toISOString() });
    expect(got).toEqual(['x']);
    s.close();
  });

  it('stays bounded on disk by rotating', async () => {
    const s = store(2000);
    for (let i = 0; i < 200; i++)
      s.append({ ...meta, stream: 'stdout', text: `line ${i}`, ts: new Date().toISOString() });
    await settle();
    expect(readdirSync(s.dir).sort()).toEqual(['ns__f.ndjson', 'ns__f.ndjson.1']);
    const lines = await s.read('ns', 'f');
    expect(lines.at(-1)?.text).toBe('line 199');
    expect(lines.length).toBeLessThan(200);
    s.close();
  });
});
