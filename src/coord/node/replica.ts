// The key space a member serves, whatever log feeds it: the replicated state machine, its
// lease deadlines (Lessor) and the watch hub fed by each applied revision. A log applies
// commands here in order, and replaces the state wholesale from a snapshot (at start, or when
// a Raft leader sends one); the hub then replays what its watchers missed, so watches stay
// gap-free across a snapshot install.
import {
  CoordStateMachine,
  Lessor,
  WatchHub,
  type Command,
  type CommandResult,
} from '../index.js';

export interface ReplicaOptions {
  clock: () => number;
  onSinkError: (watchId: number, err: unknown) => void;
}

export class Replica {
  private current: CoordStateMachine;
  private unsubscribe: () => void;
  readonly lessor = new Lessor();
  readonly hub: WatchHub;

  constructor(
    private readonly options: ReplicaOptions,
    initial: CoordStateMachine = new CoordStateMachine(),
  ) {
    this.current = initial;
    this.hub = new WatchHub(initial, { onSinkError: options.onSinkError });
    this.unsubscribe = initial.onRevision((record) => this.hub.notify(record));
    this.lessor.sync(initial.leases(), options.clock());
  }

  get sm(): CoordStateMachine {
    return this.current;
  }

  /** Applies a committed command; a CoordError thrown is the command's deterministic result. */
  apply(cmd: Command, index: number): CommandResult {
    const res = this.current.apply(cmd, index);
    // Lease deadlines follow the replicated lease table.
    if (res.type === 'leaseGrant') this.lessor.grant(res.res.id, res.res.ttl, this.options.clock());
    else if (res.type === 'leaseRevoke' && cmd.type === 'leaseRevoke') this.lessor.revoke(cmd.req.id);
    return res;
  }

  snapshot(): Buffer {
    return this.current.snapshot();
  }

  /** The state now, encoded as the generator is driven (see CoordStateMachine.snapshotSteps). */
  snapshotSteps(): Generator<void, Buffer, void> {
    return this.current.snapshotSteps();
  }

  /** Replaces the state with a snapshot's (it never goes back in time: the hub checks). */
  restore(keySpace: Buffer): void {
    const next = keySpace.length === 0 ? new CoordStateMachine() : CoordStateMachine.restore(keySpace);
    this.unsubscribe();
    this.current = next;
    this.unsubscribe = next.onRevision((record) => this.hub.notify(record));
    this.hub.rebind(next);
    this.lessor.sync(next.leases(), this.options.clock());
  }
}
