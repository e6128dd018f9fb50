// Why a proposal or read was not answered. ProposalDroppedError (from the core) means it was
// refused outright and is safe to retry; these mean the host gave up on it.

/** The proposal's log slot was taken by another entry (a new leader): it will never apply. */
export class ProposalLostError extends Error {
  constructor(readonly index: number) {
    super(`raft proposal lost: index ${index} was overwritten by another leader's entry`);
    this.name = 'ProposalLostError';
  }
}

/** No answer within the timeout: the request may or may not take effect later. */
export class ProposalTimeoutError extends Error {
  constructor(readonly kind: 'proposal' | 'read') {
    super(`raft ${kind} timed out; its outcome is unknown`);
    this.name = 'ProposalTimeoutError';
  }
}

export class RaftHostClosedError extends Error {
  constructor() {
    super('raft host closed');
    this.name = 'RaftHostClosedError';
  }
}
