import { UsageError } from './errors.js';

export type FlagSpec = Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;

export interface Parsed {
  positionals: string[];
  flags: Record<string, string | boolean | string[] | undefined>;
}

/**
 * `node:util.parseArgs` without its strictness about unknown flags' messages: a typo gets a
 * usage error that names the flag and the command's flags.
 */
export function parse(args: string[], spec: FlagSpec, command: string): Parsed {
  const flags: Parsed['flags'] = {};
  const positionals: string[] = [];
  const byShort = new Map(Object.entries(spec).flatMap(([k, v]) => (v.short ? [[v.short, k] as const] : [])));
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      positionals.push(...args.slice(i + 1));
      break;
    }
    let name: string | undefined;
    let inline: string | undefined;
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      name = eq > 0 ? a.slice(2, eq) : a.slice(2);
      inline = eq > 0 ? a.slice(eq + 1) : undefined;
    } else if (a.startsWith('-') && a.length > 1) {
      name = byShort.get(a.slice(1, 2));
      if (!name) throw new UsageError(`${command}: unknown flag ${a} (flags: ${flagList(spec)})`);
      inline = a.length > 2 ? a.slice(2) : undefined;
    } else {
      positionals.push(a);
      continue;
    }
    let s = spec[name];
    let negated = false;
    if (!s && name.startsWith('no-') && spec[name.slice(3)]?.type === 'boolean') {
      negated = true;
      name = name.slice(3);
      s = spec[name];
    }
    if (!s) throw new UsageError(`${command}: unknown flag --${name} (flags: ${flagList(spec)})`);
    if (s.type === 'boolean') {
      flags[name] = inline === undefined ? !negated : inline !== 'false';
      continue;
    }
    const value = inline ?? args[++i];
    if (value === undefined) throw new UsageError(`${command}: --${name} needs a value`);
    if (s.multiple) flags[name] = [...((flags[name] as string[] | undefined) ?? []), value];
    else flags[name] = value;
  }
  return { positionals, flags };
}

function flagList(spec: FlagSpec): string {
  return Object.keys(spec)
    .map((k) => `--${k}`)
    .join(' ');
}

/** `k=v` pairs from repeated flags into an object; `what` names the flag in the error. */
export function pairs(values: string[] | undefined, what: string): Record<string, string> | undefined {
  if (!values?.length) return undefined;
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    if (eq <= 0) throw new UsageError(`--${what} ${v}: expected key=value`);
    out[v.slice(0, eq)] = v.slice(eq + 1);
  }
  return out;
}

/** `Name: value` or `Name=value` headers. */
export function headerPairs(values: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values ?? []) {
    const m = /^([^:=\s]+)\s*[:=]\s*(.*)$/.exec(v);
    if (!m) throw new UsageError(`-H ${v}: expected 'Name: value'`);
    out[m[1]!.toLowerCase()] = m[2]!;
  }
  return out;
}
