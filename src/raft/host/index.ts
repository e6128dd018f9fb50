// The Raft host: a RaftNode core driven by a ticker, the peer transport and durable storage.
export { RaftHost, type RaftHostOptions, type RaftHostStats, type RaftHostStatus, type StateMachine } from './raft-host.js';
export { ProposalLostError, ProposalTimeoutError, RaftHostClosedError } from './errors.js';
