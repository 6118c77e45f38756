import { EventEmitter } from 'node:events';
import { createWriteStream, fstatSync, mkdirSync, openSync, renameSync, type WriteStream } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';

export interface LogLine {
  ts: string;
  function: string;
  namespace: string;
  instance: string;
  stream: 'stdout' | 'stderr';
  text: string;
}

interface FileState {
  out: WriteStream;
  bytes: number;
}

// Opened synchronously so the file exists at once and a rotation can rename it; the
// writes themselves stay asynchronous and ordered through the stream.
function openLog(file: string): FileState {
  const fd = openSync(file, 'a');
  const out = createWriteStream('', { fd });
  out.on('error', () => {});
  return { out, bytes: fstatSync(fd).size };
}

/**
 * Timestamped stdout/stderr lines of every instance, one NDJSON file per function, bounded
 * on disk: past `maxBytes` the file rotates to `.1` (one generation kept), so a chatty
 * function costs at most 2 × maxBytes.
 */
export class LogStore extends EventEmitter {
  private readonly files = new Map<string, FileState>();

  constructor(
    readonly dir: string,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {
    super();
    mkdirSync(dir, { recursive: true });
  }

  private fileOf(namespace: string, fn: string): string {
    return path.join(this.dir, `${namespace}__${fn}.ndjson`);
  }

  /** Splits a stream into lines and appends each, stamped, until the stream ends. */
  capture(src: Readable, meta: Omit<LogLine, 'ts' | 'text' | 'stream'>, stream: 'stdout' | 'stderr'): void {
    let rest = '';
    src.setEncoding('utf8');
    src.on('data', (chunk: string) => {
      const parts = (rest + chunk).split('\n');
      rest = parts.pop() ?? '';
      // An unterminated line over 16 KiB is flushed as is, so one runaway write can't grow memory.
      if (rest.length > 16384) {
        parts.push(rest);
        rest = '';
      }
      for (const text of parts)
        this.append({
          function: meta.function,
          namespace: meta.namespace,
          instance: meta.instance,
          stream,
          text,
          ts: new Date().toISOString(),
        });
    });
    src.on('end', () => {
      if (rest)
        this.append({
          function: meta.function,
          namespace: meta.namespace,
          instance: meta.instance,
          stream,
          text: rest,
          ts: new Date().toISOString(),
        });
    });
    src.on('error', () => {});
  }

  append(line: LogLine): void {
    const key = `${line.namespace}/${line.function}`;
    let f = this.files.get(key);
    const file = this.fileOf(line.namespace, line.function);
    if (!f) {
      f = openLog(file);
      this.files.set(key, f);
    }
    const data = `${JSON.stringify(line)}\n`;
    if (f.bytes + data.length > this.maxBytes) {
      f.out.end();
      renameSync(file, `${file}.1`);
      f = openLog(file);
      this.files.set(key, f);
    }
    f.out.write(data);
    f.bytes += data.length;
    this.emit('line', line);
  }

  /** The last `tail` lines (after `since`, when given), oldest first. */
  async read(
    namespace: string,
    fn: string,
    opts: { tail?: number; since?: string } = {},
  ): Promise<LogLine[]> {
    const file = this.fileOf(namespace, fn);
    const chunks: string[] = [];
    for (const p of [`${file}.1`, file]) {
      try {
        chunks.push(await readFile(p, 'utf8'));
      } catch {}
    }
    let lines = chunks
      .join('')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as LogLine);
    if (opts.since) lines = lines.filter((l) => l.ts > (opts.since as string));
    if (opts.tail !== undefined && opts.tail >= 0) lines = lines.slice(-opts.tail);
    return lines;
  }

  /** Calls `fn` for every new line of that function until the returned function is called. */
  follow(namespace: string, fnName: string, fn: (l: LogLine) => void): () => void {
    const h = (l: LogLine) => {
      if (l.namespace === namespace && l.function === fnName) fn(l);
    };
    this.on('line', h);
    return () => this.off('line', h);
  }

  close(): void {
    for (const f of this.files.values()) f.out.end();
    this.files.clear();
  }
}
