// The in-doubt resolver for PostgreSQL participants: lists our prepared transactions
// (pg_prepared_xacts, which survive restarts of PostgreSQL) and finishes each one older than
// olderThanMs by the rule of in-doubt.ts. No callbacks: the effect is inside the prepared
// transaction, so COMMIT PREPARED / ROLLBACK PREPARED is the whole local work.
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { decisionForInDoubt, PeriodicResolver, type ResolvePass } from './in-doubt.js';
import type { PgTwoPcParticipant } from './pg-participant.js';

export interface PgInDoubtResolverOptions {
  coord: Etcd3;
  participant: PgTwoPcParticipant;
  instanceId: string;
  logger: Logger;
  olderThanMs: number;
  intervalMs?: number;
  now?: () => number;
}

export class PgInDoubtResolver extends PeriodicResolver {
  constructor(private readonly opts: PgInDoubtResolverOptions) {
    super(opts);
    if (!(opts.olderThanMs >= 0)) throw new RangeError('olderThanMs must be >= 0');
  }

  async resolveOnce(): Promise<ResolvePass> {
    const { coord, participant, instanceId } = this.opts;
    const cutoff = (this.opts.now?.() ?? Date.now()) - this.opts.olderThanMs;
    const pass: ResolvePass = { committed: 0, aborted: 0, waiting: 0, failed: 0 };
    for (const branch of await participant.inDoubt()) {
      if (branch.preparedAt.getTime() > cutoff) continue;
      const p = { gid: branch.gid, branch: branch.branch };
      try {
        const decision = await decisionForInDoubt(coord, branch.gid, instanceId);
        if (decision === undefined) {
          pass.waiting++;
        } else if (decision.decision === 'commit') {
          await participant.commit(p);
          pass.committed++;
        } else {
          await participant.abort(p);
          pass.aborted++;
        }
      } catch (err) {
        pass.failed++;
        this.logger.warn({ err, gid: p.gid, branch: p.branch }, 'could not resolve an in-doubt prepared transaction');
      }
    }
    return pass;
  }
}
