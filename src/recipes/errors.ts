// Errors the recipes raise themselves (transport errors come from etcd3 unchanged, except the
// OutcomeUnknownError of client.ts).

/** The wait for a lock or for leadership ran out of time. */
export class AcquireTimeoutError extends Error {
  override readonly name = 'AcquireTimeoutError';
}

/** The lease behind a lock, a candidacy or a session expired or was revoked. */
export class SessionLostError extends Error {
  override readonly name = 'SessionLostError';
}

/** The operation needs leadership (or a lock) that this holder no longer has. */
export class NotHolderError extends Error {
  override readonly name = 'NotHolderError';
}

/** A compare-and-set loop gave up after its attempt budget. */
export class ContentionError extends Error {
  override readonly name = 'ContentionError';
}
