// Where 2PC keeps its state in the coordinator (DESIGN 3.2): the decision at /shoal/txn/<gid>,
// and while a coordinator runs the transaction an owner key under its lease, whose absence tells
// a recoverer that nobody will ever decide (presumed abort is then safe to write).

export const DECISIONS_ROOT = '/shoal/txn/';
export const OWNERS_ROOT = '/shoal/txn-owners/';

const ID = /^[A-Za-z0-9_.:-]{1,128}$/;

/** Throws unless `value` is a valid gid or branch name (`[A-Za-z0-9_.:-]{1,128}`). */
export function assertTxnId(value: unknown, what: 'gid' | 'branch'): asserts value is string {
  if (typeof value !== 'string' || !ID.test(value)) {
    throw new TypeError(`${what} must match [A-Za-z0-9_.:-]{1,128}, got ${JSON.stringify(value)}`);
  }
}

export function decisionKey(gid: string): string {
  assertTxnId(gid, 'gid');
  return DECISIONS_ROOT + gid;
}

export function ownerKey(gid: string): string {
  assertTxnId(gid, 'gid');
  return OWNERS_ROOT + gid;
}
