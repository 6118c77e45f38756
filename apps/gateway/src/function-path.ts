/** Where an invocation URL points: `/function/{name}[.{namespace}][/path][?query]`. */
export interface FunctionTarget {
  name: string;
  namespace: string;
  /** Path below the function, always starting with '/'. */
  path: string;
  /** Raw query string without '?', or ''. */
  query: string;
}

/**
 * Parses the URL of an invocation (`prefix` is `/function/` or `/async-function/`).
 * Returns undefined when no function name is present. As in OpenFaaS, the namespace is the
 * part after the first dot of the name segment (names are DNS-1123 labels, so never dotted).
 */
export function parseFunctionPath(
  url: string,
  prefix: string,
  defaultNamespace: string,
): FunctionTarget | undefined {
  const q = url.indexOf('?');
  const pathname = q === -1 ? url : url.slice(0, q);
  const query = q === -1 ? '' : url.slice(q + 1);
  if (!pathname.startsWith(prefix)) return undefined;
  const rest = pathname.slice(prefix.length);
  const slash = rest.indexOf('/');
  const segment = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '/' : rest.slice(slash);
  if (segment === '') return undefined;
  const dot = segment.indexOf('.');
  const name = dot === -1 ? segment : segment.slice(0, dot);
  const namespace = dot === -1 ? defaultNamespace : segment.slice(dot + 1);
  if (name === '' || namespace === '') return undefined;
  try {
    return { name: decodeURIComponent(name), namespace: decodeURIComponent(namespace), path, query };
  } catch {
    return undefined; // malformed %-escape: no such function
  }
}
