// InDoubtResolver for SQLite participants (see in-doubt.ts for the rule it follows).
import type BetterSqlite3 from 'better-sqlite3';
import type { Etcd3 } from 'etcd3';
import type { Logger } from 'pino';
import { decisionForInDoubt, PeriodicResolver, type ResolvePass } from './in-doubt.js';
import { abortSqlite, commitSqlite, inDoubtSqlite } from './sqlite-participant.js';

/** Applies a decision's effect to the participant's own tables, inside the local transaction. */
export type ResourceCallback = (gid: string, branch: string, resources: unknown, db: BetterSqlite3.Database) => void;

export interface InDoubtResolverOptions {
  coord: Etcd3;
  db: BetterSqlite3.Database;
  instanceId: string;
  logger: Logger;
  /** Only branches prepared at least this long ago (their coordinator had time to finish). */
  olderThanMs: number;
  intervalMs?: number;
  /** Finalize the prepared resources (same work as the participant's commit action). */
  onCommit: ResourceCallback;
  /** Release the prepared resources (same work as the participant's abort action). */
  onAbort: ResourceCallback;
  now?: () => number;
}

export class InDoubtResolver extends PeriodicResolver {
  constructor(private readonly opts: InDoubtResolverOptions) {
    super(opts);
    if (!(opts.olderThanMs >= 0)) throw new RangeError('olderThanMs must be >= 0');
  }

  async resolveOnce(): Promise<ResolvePass> {
    const { db, coord, instanceId } = this.opts;
    const now = this.opts.now?.() ?? Date.now();
    const pass: ResolvePass = { committed: 0, aborted: 0, waiting: 0, failed: 0 };
    for (const row of inDoubtSqlite(db, now - this.opts.olderThanMs)) {
      const p = { gid: row.gid, branch: row.branch };
      try {
        const decision = await decisionForInDoubt(coord, row.gid, instanceId);
        if (decision === undefined) {
          pass.waiting++;
          continue;
        }
        // The commit/abort barrier makes this a no-op if the coordinator's own phase two got
        // here first (or gets here later).
        db.transaction(() => {
          if (decision.decision === 'commit') {
            const resources = commitSqlite(db, p);
            if (resources !== null) this.opts.onCommit(p.gid, p.branch, resources, db);
          } else {
            const resources = abortSqlite(db, p);
            if (resources !== null) this.opts.onAbort(p.gid, p.branch, resources, db);
          }
        })();
        if (decision.decision === 'commit') pass.committed++;
        else pass.aborted++;
      } catch (err) {
        pass.failed++;
        this.logger.warn({ err, gid: p.gid, branch: p.branch }, 'could not resolve an in-doubt branch');
      }
    }
    return pass;
  }
}
