// One Raft node of the benchmark cluster, in its own process, driven by bench.ts over IPC.
//   node --import tsx bench/raft/node.ts <id> <dir>
// When told to, the leader generates the load itself (pipelined proposals), so the figures
// measure Raft (replication, fsync, apply), not a client protocol.
import { randomBytes } from 'node:crypto';
import { RaftHost, type StateMachine } from '../../src/raft/host/index.js';
import type { PeerAddress } from '../../src/raft/transport/index.js';

export type ToNode =
  | { type: 'peers'; peers: [number, PeerAddress][] }
  | { type: 'load'; concurrency: number; durationMs: number; entryBytes: number }
  | { type: 'stats' }
  | { type: 'stop' };

export interface LoadResult {
  entries: number;
  errors: number;
  seconds: number;
  latenciesMs: { p50: number; p90: number; p99: number; max: number };
  leaderFsyncs: number;
  leaderWalWrites: number;
  leaderWalBytes: number;
  readies: number;
}

export type FromNode =
  | { type: 'listening'; id: number; address: PeerAddress }
  | { type: 'leader'; id: number; role: string; lead: number; term: number }
  | { type: 'loadResult'; result: LoadResult }
  | { type: 'stats'; id: number; fsyncs: number; walRecords: number; walBytes: number; applied: number };

/** Counts applied commands and folds their bytes into a checksum. */
class CounterMachine implements StateMachine<number> {
  count = 0;
  sum = 0;
  apply(command: Uint8Array): number {
    this.count++;
    this.sum = (this.sum + command.length + command[0]) % 0xffffffff;
    return this.count;
  }
  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ count: this.count, sum: this.sum }));
  }
  restore(image: Uint8Array): void {
    const s = image.length === 0 ? { count: 0, sum: 0 } : (JSON.parse(Buffer.from(image).toString()) as { count: number; sum: number });
    this.count = s.count;
    this.sum = s.sum;
  }
}

const send = (m: FromNode): void => {
  process.send?.(m);
};
const id = Number(process.argv[2]);
const dir = process.argv[3];
const host = await RaftHost.start<number>({
  id,
  clusterId: 'bench',
  dir,
  voters: [1, 2, 3],
  stateMachine: new CounterMachine(),
  tickMs: 50,
  sync: true,
  onLeaderChange: (s) => send({ type: 'leader', id, role: s.role, lead: s.lead, term: s.term }),
  onFatal: (err) => {
    console.error(`node ${id}: fatal:`, err);
    process.exit(1);
  },
});
send({ type: 'listening', id, address: host.address });

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function load(concurrency: number, durationMs: number, entryBytes: number): Promise<LoadResult> {
  const payload = randomBytes(entryBytes);
  const latencies: number[] = [];
  let errors = 0;
  let stop = false;
  const before = host.stats();
  const t0 = performance.now();
  const timer = setTimeout(() => (stop = true), durationMs);
  const worker = async (): Promise<void> => {
    while (!stop) {
      const start = performance.now();
      try {
        await host.propose(payload);
        latencies.push(performance.now() - start);
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  clearTimeout(timer);
  const seconds = (performance.now() - t0) / 1000;
  const after = host.stats();
  latencies.sort((a, b) => a - b);
  return {
    entries: latencies.length,
    errors,
    seconds,
    latenciesMs: {
      p50: quantile(latencies, 0.5),
      p90: quantile(latencies, 0.9),
      p99: quantile(latencies, 0.99),
      max: latencies[latencies.length - 1] ?? 0,
    },
    leaderFsyncs: after.wal.fsyncs - before.wal.fsyncs,
    leaderWalWrites: after.wal.writes - before.wal.writes,
    leaderWalBytes: after.wal.bytes - before.wal.bytes,
    readies: after.readies - before.readies,
  };
}

process.on('message', (msg: ToNode) => {
  void (async () => {
    if (msg.type === 'peers') {
      for (const [peer, addr] of msg.peers) if (peer !== id) host.addPeer(peer, addr);
    } else if (msg.type === 'load') {
      send({ type: 'loadResult', result: await load(msg.concurrency, msg.durationMs, msg.entryBytes) });
    } else if (msg.type === 'stats') {
      const s = host.stats();
      send({ type: 'stats', id, fsyncs: s.wal.fsyncs, walRecords: s.wal.records, walBytes: s.wal.bytes, applied: host.status().applied });
    } else if (msg.type === 'stop') {
      await host.close();
      process.exit(0);
    }
  })();
});
