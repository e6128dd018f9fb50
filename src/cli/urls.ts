// Parsing etcd-style URL flags: comma-separated lists of http://host:port, and
// --initial-cluster's name=url pairs.
export interface HostPort {
  host: string;
  port: number;
}

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

export function parseUrlList(flag: string, value: string): URL[] {
  const parts = value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  if (parts.length === 0) throw new FlagError(`--${flag}: at least one URL is required`);
  return parts.map((p) => parseUrl(flag, p));
}

export function parseUrl(flag: string, text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new FlagError(`--${flag}: "${text}" is not a URL (expected http://host:port)`);
  }
  if (url.protocol === 'https:') throw new FlagError(`--${flag}: "${text}": TLS is not supported yet; use http://`);
  if (url.protocol !== 'http:') throw new FlagError(`--${flag}: "${text}": the scheme must be http://`);
  if (url.port === '') throw new FlagError(`--${flag}: "${text}" has no port`);
  if ((url.pathname !== '/' && url.pathname !== '') || url.search !== '' || url.hash !== '') {
    throw new FlagError(`--${flag}: "${text}" must be just scheme://host:port`);
  }
  return url;
}

/** Where to listen for a URL: its host (brackets removed for IPv6) and port. */
export function listenAddress(url: URL): HostPort {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return { host, port: Number(url.port) };
}

/** The URL's canonical text without a trailing slash, as etcd prints member URLs. */
export function urlText(url: URL): string {
  return `${url.protocol}//${url.host}`;
}

/** `--initial-cluster`: name=url[,name=url...]; one member may list several URLs. */
export function parseInitialCluster(value: string): Map<string, string[]> {
  const members = new Map<string, string[]>();
  for (const part of value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new FlagError(`--initial-cluster: "${part}" is not name=url`);
    const name = part.slice(0, eq);
    const url = urlText(parseUrl('initial-cluster', part.slice(eq + 1)));
    members.set(name, [...(members.get(name) ?? []), url]);
  }
  if (members.size === 0) throw new FlagError('--initial-cluster: no members given');
  return members;
}

/**
 * `--peer-dial`: name=host:port[,name=host:port...] (an http:// URL is accepted too), the address
 * this member dials for each named peer.
 */
export function parsePeerDial(flag: string, value: string): Map<string, HostPort> {
  const out = new Map<string, HostPort>();
  for (const part of value.split(',').map((s) => s.trim()).filter((s) => s.length > 0)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new FlagError(`--${flag}: "${part}" is not name=host:port`);
    const target = part.slice(eq + 1);
    const url = parseUrl(flag, target.includes('://') ? target : `http://${target}`);
    out.set(part.slice(0, eq), listenAddress(url));
  }
  return out;
}
