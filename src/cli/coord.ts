// `shoal coord`: one coordinator member serving the etcd v3 API, with etcd's flag names.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import pino, { type Logger } from 'pino';
import { CoordNode, type RaftMemberOptions } from '../coord/node/index.js';
import { GrpcLeaderClient, startCoordServer, type CoordServer } from '../coord/server/index.js';
import { FlagError, listenAddress, parseInitialCluster, parsePeerDial, parseUrlList, urlText } from './urls.js';

export interface CoordFlags {
  name: string;
  dataDir?: string;
  listenClientUrls: string;
  advertiseClientUrls?: string;
  listenPeerUrls: string;
  initialAdvertisePeerUrls?: string;
  initialCluster?: string;
  initialClusterState: string;
  initialClusterToken: string;
  snapshotCount: string;
  logLevel: string;
  unsafeNoFsync?: boolean;
  grpcServer?: string;
  experimentalWatchProgressNotifyInterval: string;
  heartbeatInterval: string;
  electionTimeout: string;
  experimentalSnapshotCatchupEntries: string;
  peerDial?: string;
}

const REPLICATION_HELP = `
Replication: a multi-member --initial-cluster runs the members on Raft (one member runs on its own
write-ahead log). To join a running cluster, add the member first (etcdctl member add NAME
--peer-urls=URL), then start it with an empty --data-dir, --initial-cluster-state existing and an
--initial-cluster listing the running members and itself.

--peer-dial name=host:port,... (Shoal only): this member DIALS the named peers at these addresses
instead of their advertised peer URLs. The cluster configuration and member ids stay those of
--initial-cluster; only where this member connects changes. Fault-injection tests put a TCP proxy
per ordered pair of members this way, to cut one direction of one link (asymmetric partition) or
every link of a member (full partition).`;

export function registerCoord(program: Command): void {
  program
    .command('coord')
    .description('run one coordinator member (etcd v3 API)')
    .option('--name <name>', 'human-readable name of this member', 'default')
    .option('--data-dir <path>', 'path to the data directory (default: ./<name>.shoal)')
    .option('--listen-client-urls <urls>', 'URLs to listen on for client traffic', 'http://localhost:2379')
    .option('--advertise-client-urls <urls>', "this member's client URLs to advertise (default: the listen URLs)")
    .option('--listen-peer-urls <urls>', 'URLs to listen on for peer traffic', 'http://localhost:2380')
    .option('--initial-advertise-peer-urls <urls>', "this member's peer URLs to advertise (default: the listen peer URLs)")
    .option('--initial-cluster <members>', 'initial cluster configuration, name=url,... (default: <name>=<peer URLs>)')
    .option('--initial-cluster-state <state>', 'new or existing', 'new')
    .option('--initial-cluster-token <token>', 'initial cluster token', 'etcd-cluster')
    .option('--snapshot-count <n>', 'committed commands between snapshots (as etcd 3.4)', '100000')
    .option('--experimental-watch-progress-notify-interval <duration>', 'interval of watch progress notifications', '10m')
    .option('--heartbeat-interval <ms>', 'time of a Raft heartbeat (one tick), in milliseconds', '100')
    .option('--election-timeout <ms>', 'time without a leader before an election, in milliseconds', '1000')
    .option('--experimental-snapshot-catchup-entries <n>', 'log entries kept after a snapshot for slow followers', '5000')
    .option('--peer-dial <name=host:port,...>', 'dial the named peers at these addresses instead of their peer URLs (Shoal only; see below)')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--unsafe-no-fsync', 'acknowledge writes without fsync (benchmarks only: loses data on a crash)')
    .option('--grpc-server <impl>', "the gRPC server: lean (Shoal's own HTTP/2, the default) or grpc-js (Shoal only; for comparison)", 'lean')
    .addHelpText('after', REPLICATION_HELP)
    .action(async (flags: CoordFlags) => {
      const log = pino({ name: 'shoal-coord', level: flags.logLevel }, pino.destination({ fd: 2, sync: true }));
      try {
        await runCoord(flags, log);
      } catch (err) {
        if (err instanceof FlagError) {
          process.stderr.write(`shoal coord: ${err.message}\n`);
          process.exitCode = 2;
          return;
        }
        log.fatal({ err }, 'coord: failed to start');
        process.exitCode = 1;
      }
    });
}

interface CoordConfig {
  name: string;
  dataDir: string;
  listen: { host: string; port: number }[];
  listenUrls: URL[];
  advertiseClientUrls: string[] | null;
  peerUrls: string[];
  clusterToken: string;
  snapshotCount: number;
  sync: boolean;
  progressNotifyMs: number;
  raft: RaftMemberOptions;
  grpcServer: 'lean' | 'grpc-js';
}

/** Validates the flags; throws FlagError with a message naming the flag. */
export function coordConfig(flags: CoordFlags): CoordConfig {
  const name = flags.name;
  if (name.length === 0 || /[=,]/.test(name)) throw new FlagError('--name: must be non-empty, without "=" or ","');
  const dataDir = flags.dataDir ?? `${name}.shoal`;
  const listenUrls = parseUrlList('listen-client-urls', flags.listenClientUrls);
  const advertiseClientUrls =
    flags.advertiseClientUrls === undefined ? null : parseUrlList('advertise-client-urls', flags.advertiseClientUrls).map(urlText);
  const listenPeer = parseUrlList('listen-peer-urls', flags.listenPeerUrls).map(urlText);
  const peerUrls =
    flags.initialAdvertisePeerUrls === undefined
      ? listenPeer
      : parseUrlList('initial-advertise-peer-urls', flags.initialAdvertisePeerUrls).map(urlText);
  const cluster = parseInitialCluster(flags.initialCluster ?? peerUrls.map((u) => `${name}=${u}`).join(','));
  const mine = cluster.get(name);
  if (mine === undefined) throw new FlagError(`--initial-cluster: has no entry for this member's --name "${name}"`);
  if ([...mine].sort().join(',') !== [...peerUrls].sort().join(',')) {
    throw new FlagError(
      `--initial-cluster: "${name}" is listed with ${mine.join(',')} but --initial-advertise-peer-urls is ${peerUrls.join(',')}`,
    );
  }
  const state = flags.initialClusterState;
  if (state !== 'new' && state !== 'existing') throw new FlagError(`--initial-cluster-state: "${state}" is neither new nor existing`);
  if (state === 'existing' && cluster.size === 1 && !existsSync(join(dataDir, 'member'))) {
    throw new FlagError('--initial-cluster-state existing: --initial-cluster must list the running members to join, and this one');
  }
  const tickMs = positiveInt('heartbeat-interval', flags.heartbeatInterval);
  const electionMs = positiveInt('election-timeout', flags.electionTimeout);
  if (electionMs < 5 * tickMs) throw new FlagError('--election-timeout: must be at least 5 times --heartbeat-interval');
  const peerDial = new Map([
    ...parsePeerDial('peer-dial', flags.peerDial ?? ''),
  ]);
  for (const peer of peerDial.keys()) {
    if (!cluster.has(peer)) throw new FlagError(`--peer-dial: "${peer}" is not a member of --initial-cluster`);
  }
  const listenPeerUrls = parseUrlList('listen-peer-urls', flags.listenPeerUrls);
  const raft: RaftMemberOptions = {
    initialCluster: [...cluster].map(([n, urls]) => ({ name: n, peerUrls: urls })),
    state,
    listen: listenAddress(listenPeerUrls[0]),
    peerDial,
    tickMs,
    electionTicks: Math.round(electionMs / tickMs),
    catchupEntries: positiveInt('experimental-snapshot-catchup-entries', flags.experimentalSnapshotCatchupEntries),
  };
  if (flags.initialClusterToken.length === 0) throw new FlagError('--initial-cluster-token: must be non-empty');
  const snapshotCount = positiveInt('snapshot-count', flags.snapshotCount);
  const progressNotifyMs = parseDuration('experimental-watch-progress-notify-interval', flags.experimentalWatchProgressNotifyInterval);
  const grpcServer = flags.grpcServer ?? 'lean';
  if (grpcServer !== 'lean' && grpcServer !== 'grpc-js') throw new FlagError(`--grpc-server: lean or grpc-js, got "${grpcServer}"`);
  return {
    name,
    dataDir,
    progressNotifyMs,
    listen: listenUrls.map(listenAddress),
    listenUrls,
    advertiseClientUrls,
    peerUrls,
    clusterToken: flags.initialClusterToken,
    snapshotCount,
    sync: flags.unsafeNoFsync !== true,
    raft,
    grpcServer,
  };
}

function positiveInt(flag: string, text: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new FlagError(`--${flag}: must be a positive integer`);
  return n;
}

export async function runCoord(flags: CoordFlags, log: Logger): Promise<void> {
  const config = coordConfig(flags);
  let server: CoordServer | null = null;
  let stopping: Promise<void> | null = null;
  let node: CoordNode | null = null;

  const stop = (why: string, code: number) => {
    stopping ??= (async () => {
      log.info({ why }, 'coord: stopping');
      await server?.close();
      await node?.close();
      log.info('coord: stopped');
      process.exitCode = code;
    })();
    return stopping;
  };

  node = await CoordNode.open({
    dataDir: config.dataDir,
    name: config.name,
    // Filled in once the ports are bound (a listen URL may ask for port 0).
    clientUrls: [],
    peerUrls: config.peerUrls,
    clusterToken: config.clusterToken,
    log,
    snapshotCount: config.snapshotCount,
    sync: config.sync,
    progressNotifyMs: config.progressNotifyMs,
    raft: config.raft,
    leaderClient: new GrpcLeaderClient(),
    onFatal: () => void stop('storage failure', 1),
  });
  const { report } = node;
  log.info(
    { dataDir: config.dataDir, snapshotIndex: report.snapshotIndex, replayed: report.replayed, repaired: report.repaired !== null },
    'coord: recovered',
  );
  if (!config.sync) log.warn('coord: --unsafe-no-fsync: acknowledged writes can be lost on a crash');

  try {
    server = await startCoordServer({ backend: node, log, listen: config.listen, grpcServer: config.grpcServer });
  } catch (err) {
    await node.close();
    throw err;
  }
  const bound = server.addresses.map((a, i) => {
    const u = new URL(config.listenUrls[i].href);
    u.port = String(a.port);
    return urlText(u);
  });
  node.setClientUrls(config.advertiseClientUrls ?? bound);

  process.once('SIGTERM', () => void stop('SIGTERM', 0));
  process.once('SIGINT', () => void stop('SIGINT', 0));
  log.info(
    { name: config.name, memberId: node.memberId.toString(16), clusterId: node.clusterId.toString(16), clientUrls: bound, peerUrls: config.peerUrls },
    'coord: ready to serve client requests',
  );
}

/** A Go-style duration as etcd's flags take it: 500ms, 5s, 10m, 1h (and combinations). */
export function parseDuration(flag: string, text: string): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/y;
  let total = 0;
  let pos = 0;
  while (pos < text.length) {
    re.lastIndex = pos;
    const m = re.exec(text);
    if (m === null) break;
    total += Number(m[1]) * units[m[2]];
    pos = re.lastIndex;
  }
  if (pos !== text.length || text.length === 0 || !(total >= 1)) {
    throw new FlagError(`--${flag}: "${text}" is not a duration like 500ms, 5s or 10m`);
  }
  return Math.round(total);
}
