// bench/raft: a 3-node Shoal Raft cluster on loopback, each node its own process with its WAL on
// real disk (fdatasync before acknowledging), against the disk's own fsync rate in the same run.
//
//   npx tsx bench/raft/bench.ts [--duration 5] [--warmup 1] [--conc 1,16,128,512] [--bytes 100]
//                               [--dir /path/on/the/disk] [--quick]
//
// The leader proposes 100-byte entries with `conc` proposals in flight; an entry counts once it
// is committed and applied on the leader. Prints a table and writes bench/results/raft-<date>.json.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeFsync, type FsyncProbe } from './fsync-probe.js';
import type { FromNode, LoadResult, ToNode } from './node.js';

const args = new Map<string, string>();
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (!a.startsWith('--')) continue;
  const next = process.argv[i + 1];
  args.set(a.slice(2), next !== undefined && !next.startsWith('--') ? (i++, next) : 'true');
}
const quick = args.get('quick') === 'true';
const durationMs = Number(args.get('duration') ?? (quick ? 2 : 5)) * 1000;
const warmupMs = Number(args.get('warmup') ?? 1) * 1000;
const concurrencies = (args.get('conc') ?? (quick ? '1,64' : '1,16,128,512')).split(',').map(Number);
const entryBytes = Number(args.get('bytes') ?? 100);
const baseDir = args.get('dir') ?? os.tmpdir();

const here = path.dirname(fileURLToPath(import.meta.url));
const root = mkdtempSync(path.join(baseDir, 'shoal-raft-bench-'));

interface Node {
  id: number;
  child: ChildProcess;
  messages: FromNode[];
  waiters: ((m: FromNode) => boolean)[];
}

function startNode(id: number): Node {
  const child = fork(path.join(here, 'node.ts'), [String(id), path.join(root, `n${id}`)], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const node: Node = { id, child, messages: [], waiters: [] };
  child.on('message', (m: FromNode) => {
    node.messages.push(m);
    node.waiters = node.waiters.filter((w) => !w(m));
  });
  return node;
}

/** The next message from `node` matching `pred` (or one already received). Bounded by `ms`. */
function next<T extends FromNode>(node: Node, pred: (m: FromNode) => m is T, ms: number): Promise<T> {
  const seen = node.messages.find(pred);
  if (seen !== undefined) {
    node.messages.splice(node.messages.indexOf(seen), 1);
    return Promise.resolve(seen);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${node.id}: no reply within ${ms} ms`)), ms);
    node.waiters.push((m) => {
      if (!pred(m)) return false;
      clearTimeout(timer);
      node.messages.splice(node.messages.indexOf(m), 1);
      resolve(m);
      return true;
    });
  });
}

const tell = (node: Node, m: ToNode): void => {
  node.child.send(m);
};

async function stopAll(nodes: Node[]): Promise<void> {
  for (const n of nodes) {
    if (n.child.exitCode !== null || n.child.signalCode !== null) continue;
    const exited = new Promise((r) => n.child.once('exit', r));
    tell(n, { type: 'stop' });
    const timer = setTimeout(() => n.child.pid !== undefined && process.kill(n.child.pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }
}

interface Row extends LoadResult {
  concurrency: number;
  /** The disk's fsync rate probed right before this row (it drifts on a shared machine). */
  diskFsyncsPerSec: number;
  entriesPerSec: number;
  entriesPerLeaderFsync: number;
  followerFsyncs: number[];
}

const describeProbe = (p: FsyncProbe): string =>
  `${p.fsyncsPerSec} fsync/s (mean ${p.meanMs.toFixed(3)} ms, p50 ${p.p50Ms.toFixed(3)}, p99 ${p.p99Ms.toFixed(3)})`;
console.log(`# fsync probe: 4 KiB append + fdatasync in ${baseDir}`);
const probeBefore: FsyncProbe = probeFsync(root, quick ? 1000 : 3000);
console.log(`  before: ${describeProbe(probeBefore)}`);

const nodes = [1, 2, 3].map(startNode);
const rows: Row[] = [];
try {
  const listening = await Promise.all(
    nodes.map((n) => next(n, (m): m is Extract<FromNode, { type: 'listening' }> => m.type === 'listening', 30_000)),
  );
  const peers = listening.map((l) => [l.id, l.address] as [number, { host: string; port: number }]);
  for (const n of nodes) tell(n, { type: 'peers', peers });
  const elected = await Promise.race(
    nodes.map((n) => next(n, (m): m is Extract<FromNode, { type: 'leader' }> => m.type === 'leader' && m.role === 'leader', 30_000)),
  );
  const leader = nodes[elected.id - 1];
  const followers = nodes.filter((n) => n !== leader);
  console.log(`# leader: node ${elected.id} (term ${elected.term}); entries of ${entryBytes} bytes`);

  const runLoad = async (concurrency: number, ms: number): Promise<LoadResult> => {
    tell(leader, { type: 'load', concurrency, durationMs: ms, entryBytes });
    const r = await next(leader, (m): m is Extract<FromNode, { type: 'loadResult' }> => m.type === 'loadResult', ms + 60_000);
    return r.result;
  };
  const followerStats = async (): Promise<number[]> => {
    for (const f of followers) tell(f, { type: 'stats' });
    const s = await Promise.all(followers.map((f) => next(f, (m): m is Extract<FromNode, { type: 'stats' }> => m.type === 'stats', 10_000)));
    return s.map((x) => x.fsyncs);
  };

  await runLoad(64, warmupMs);
  console.log('| in flight | entries/s | p50 ms | p99 ms | entries/fsync (leader) | leader fsyncs/s | follower fsyncs/s | disk fsync/s (probe) | errors |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const concurrency of concurrencies) {
    const diskNow = probeFsync(root, quick ? 500 : 1000);
    const f0 = await followerStats();
    const r = await runLoad(concurrency, durationMs);
    const f1 = await followerStats();
    const row: Row = {
      ...r,
      concurrency,
      diskFsyncsPerSec: diskNow.fsyncsPerSec,
      entriesPerSec: Math.round(r.entries / r.seconds),
      entriesPerLeaderFsync: r.leaderFsyncs === 0 ? 0 : r.entries / r.leaderFsyncs,
      followerFsyncs: f1.map((v, i) => v - f0[i]),
    };
    rows.push(row);
    const followerRate = row.followerFsyncs.map((v) => Math.round(v / r.seconds)).join(' / ');
    console.log(
      `| ${concurrency} | ${row.entriesPerSec} | ${r.latenciesMs.p50.toFixed(2)} | ${r.latenciesMs.p99.toFixed(2)} | ` +
        `${row.entriesPerLeaderFsync.toFixed(1)} | ${Math.round(r.leaderFsyncs / r.seconds)} | ${followerRate} | ${diskNow.fsyncsPerSec} | ${r.errors} |`,
    );
  }
} finally {
  await stopAll(nodes);
}
const probeAfter: FsyncProbe = probeFsync(root, quick ? 1000 : 3000);
console.log(`# fsync probe after: ${describeProbe(probeAfter)}`);
rmSync(root, { recursive: true, force: true });

const date = new Date().toISOString().slice(0, 10);
const out = {
  benchmark: 'raft',
  date: new Date().toISOString(),
  command: `npx tsx bench/raft/bench.ts ${process.argv.slice(2).join(' ')}`.trim(),
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version, platform: `${os.type()} ${os.release()}` },
  config: { nodes: 3, entryBytes, durationMs, warmupMs, dir: baseDir, sync: true, tickMs: 50 },
  fsyncProbe: { before: probeBefore, after: probeAfter },
  runs: rows,
};
const resultsDir = path.join(here, '..', 'results');
mkdirSync(resultsDir, { recursive: true });
const file = path.join(resultsDir, `raft-${date}.json`);
writeFileSync(file, JSON.stringify(out, null, 2) + '\n');
console.log(`# wrote ${path.relative(process.cwd(), file)}`);
