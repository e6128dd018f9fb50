// Errors the node reports to its caller for requests it cannot take right now. They are
// expected in normal operation (no leader yet, a transfer in progress): the caller retries.

export type DropReason =
  | 'noLeader'
  | 'forwardingDisabled'
  | 'notLeader'
  | 'transferring'
  | 'removed'
  | 'confChangePending'
  | 'invalidConfChange'
  | 'emptyProposal';

export class ProposalDroppedError extends Error {
  constructor(readonly reason: DropReason) {
    super(`raft proposal dropped: ${reason}`);
    this.name = 'ProposalDroppedError';
  }
}
