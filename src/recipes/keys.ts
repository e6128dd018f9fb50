// Key layout of the recipes (DESIGN.md 3.2). Lock and election keys follow etcd's concurrency
// package: one key per contender, `<prefix><lease id in lower-case hex>`, ordered by create
// revision; so etcdctl's `lock` / `elect` and these recipes can share a prefix if a name matches.
export const LOCKS_ROOT = '/shoal/locks/';
export const ELECTIONS_ROOT = '/shoal/elections/';
export const COUNTERS_ROOT = '/shoal/counters/';
export const CONFIG_ROOT = '/shoal/config/';

/** Names are path-like ("orders/recovery"): non-empty segments, no NUL, no leading or trailing "/". */
export function assertName(kind: string, name: string): void {
  if (typeof name !== 'string' || name === '' || name.includes('\0') || name.split('/').some((seg) => seg === '')) {
    throw new TypeError(`${kind} name must be non-empty path segments separated by "/", got ${JSON.stringify(name)}`);
  }
}

export function lockPrefix(name: string): string {
  assertName('lock', name);
  return `${LOCKS_ROOT}${name}/`;
}

export function electionPrefix(name: string): string {
  assertName('election', name);
  return `${ELECTIONS_ROOT}${name}/`;
}

export function counterKey(name: string): string {
  assertName('counter', name);
  return `${COUNTERS_ROOT}${name}`;
}

export function configPrefix(service: string): string {
  assertName('service', service);
  return `${CONFIG_ROOT}${service}/`;
}

/** etcd's contender key: the prefix followed by the lease id as %x. */
export function contenderKey(prefix: string, leaseId: string): string {
  return `${prefix}${BigInt(leaseId).toString(16)}`;
}

/** The range end that makes [prefix, end) cover exactly the keys starting with prefix. */
export function prefixEnd(prefix: string | Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: every key after it
}
