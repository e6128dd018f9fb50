// Runs etcdctl (API v3) against one server and writes a transcript of commands and outputs in
// which only values that legitimately differ between servers are replaced by placeholders.
// Each replacement is narrow and named: ids learnt from the server (member, cluster, leases),
// revisions rewritten relative to the script's first write (R+k), timestamps and durations,
// raft term/index and db size, the client and peer URL, and table padding.
import { spawn, type ChildProcess } from 'node:child_process';
import type { Etcd3 } from 'etcd3';
import { ETCDCTL_BIN } from '../support/etcd-server.js';

export interface RunOptions {
  stdin?: string;
  /** Sort the output lines after the first (for listings whose order etcd does not define). */
  sortTail?: boolean;
  timeoutMs?: number;
  /** The output is `lease grant`'s: learn the lease id before recording it. */
  grantsLease?: boolean;
}

interface Ids {
  memberHex: string;
  memberDec: string;
  clusterDec: string;
  peerUrls: string[];
}

const EVENT_LINE = /^(PUT|DELETE)$/gm;
const INTERRUPT_NOISE = [
  /^\{"level":"warn",.*"msg":"retrying of unary invoker failed",.*"error":"rpc error: code = Canceled desc = context canceled"\}$/,
  /^Error: context canceled$/,
];
/** Children whose stdout and stderr are fully drained. */
const closed = new WeakSet<ChildProcess>();

export class EtcdctlSession {
  private readonly lines: string[] = [];
  private base: bigint | undefined;
  private readonly leases: Array<{ hex: string; dec: string }> = [];
  private ids: Ids | undefined;
  private readonly running = new Set<ChildProcess>();

  constructor(private readonly endpoint: string, private readonly client: Etcd3) {}

  /** Learns the ids every output is normalized with. */
  async init(): Promise<void> {
    const members = await this.client.cluster.memberList({});
    const m = members.members[0];
    if (!m) throw new Error('member list is empty');
    this.ids = {
      memberHex: BigInt(m.ID).toString(16),
      memberDec: m.ID,
      clusterDec: members.header.cluster_id,
      peerUrls: m.peerURLs,
    };
  }

  /** Sets R, the revision every other revision in the transcript is written relative to. */
  setBase(revision: bigint): void {
    this.base = revision;
  }

  /** Revision R+k, for building arguments. */
  rev(k: number): string {
    if (this.base === undefined) throw new Error('base revision not set');
    return String(this.base + BigInt(k));
  }

  /** The store's current revision (read through the client, not recorded). */
  async currentRevision(): Promise<bigint> {
    return BigInt((await this.client.kv.range({ key: Buffer.from('/ctl-none') })).header.revision);
  }

  /** Remembers a lease id printed by `lease grant`, so it is replaced by its name everywhere. */
  learnLease(output: string): string {
    const known = /lease ([0-9a-f]+) granted/.exec(output)?.[1];
    if (known !== undefined && this.leases.some((l) => l.hex === known)) return known;
    const m = /lease ([0-9a-f]+) granted/.exec(output);
    if (!m) throw new Error(`no lease id in: ${output}`);
    const hex = m[1]!;
    this.leases.push({ hex, dec: BigInt(`0x${hex}`).toString() });
    return hex;
  }

  note(text: string): void {
    this.lines.push(`# ${text}`);
  }

  /** Runs one command to completion (bounded) and records it. */
  async run(args: string[], opts: RunOptions = {}): Promise<{ stdout: string; stderr: string; code: number | null }> {
    const child = this.spawn(args);
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin);
    else child.stdin!.end();
    const out = collect(child);
    const code = await exitOf(child, opts.timeoutMs ?? 15_000);
    const { stdout, stderr } = out();
    if (opts.grantsLease) this.learnLease(stdout);
    this.record(args, stdout, stderr, `exit ${code}`, opts);
    return { stdout, stderr, code };
  }

  /** Starts a long-running command (watch, lock, elect); stop it with the handle. */
  start(args: string[]): Background {
    const child = this.spawn(args);
    child.stdin!.end();
    return new Background(this, args, child, collect(child));
  }

  transcript(): string {
    return `${this.lines.join('\n')}\n`;
  }

  /** @internal */
  record(args: string[], stdout: string, stderr: string, status: string, opts: Pick<RunOptions, 'sortTail' | 'stdin'> = {}): void {
    this.lines.push(`$ etcdctl ${this.normalize(args.join(' '))}${opts.stdin !== undefined ? ' <<stdin' : ''}`);
    if (opts.stdin !== undefined) for (const l of opts.stdin.replace(/\n$/, '').split('\n')) this.lines.push(`< ${this.normalize(l)}`);
    let out = stdout.replace(/\n$/, '').split('\n').filter((l, _i, all) => !(all.length === 1 && l === ''));
    out = out.map((l) => this.normalize(l));
    if (opts.sortTail && out.length > 1) out = [out[0]!, ...out.slice(1).sort()];
    for (const l of out) this.lines.push(l);
    for (const l of stderr.replace(/\n$/, '').split('\n').filter((l) => l !== '')) this.lines.push(`stderr| ${this.normalize(l)}`);
    this.lines.push(`(${status})`);
  }

  /** @internal */
  untrack(child: ChildProcess): void {
    this.running.delete(child);
  }

  /** Stops anything still running (by the PIDs this session started). */
  killAll(): void {
    for (const child of this.running) if (child.pid !== undefined && child.exitCode === null) process.kill(child.pid, 'SIGKILL');
    this.running.clear();
  }

  private spawn(args: string[]): ChildProcess {
    const child = spawn(ETCDCTL_BIN, [`--endpoints=${this.endpoint}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.running.add(child);
    child.once('exit', () => this.running.delete(child));
    child.once('close', () => closed.add(child));
    return child;
  }

  normalize(line: string): string {
    let s = line;
    const ids = this.ids;
    s = s.split(this.endpoint).join('<client-url>');
    if (ids) {
      for (const url of ids.peerUrls) s = s.split(url).join('<peer-url>');
      s = s.replace(new RegExp(`\\b${ids.memberHex}\\b`, 'g'), '<member-id>');
      s = s.replace(new RegExp(`\\b${ids.memberDec}\\b`, 'g'), '<member-id>');
      s = s.replace(new RegExp(`\\b${ids.clusterDec}\\b`, 'g'), '<cluster-id>');
    }
    this.leases.forEach((l, i) => {
      s = s.replace(new RegExp(`\\b(${l.hex}|${l.dec})\\b`, 'g'), `<lease-${i + 1}>`);
    });
    // Keys of lock and election sessions end in their (unrecorded) lease id, as in etcd's concurrency package.
    s = s.replace(/(\/ctl-(?:lock|elect)\/)[0-9a-f]{1,16}\b/g, '$1<session-lease>');
    // Revisions, relative to R.
    const rel = (n: string): string => {
      if (this.base === undefined) return '<rev>';
      const d = BigInt(n) - this.base;
      return d === 0n ? 'R' : d > 0n ? `R+${d}` : `R${d}`;
    };
    s = s.replace(/("(?:revision|create_revision|mod_revision|compact_revision)":)(\d+)/g, (_m, k: string, n: string) => (n === '0' ? `${k}0` : `${k}${rel(n)}`));
    s = s.replace(/("(?:Revision|CreateRevision|ModRevision)" : )(\d+)/g, (_m, k: string, n: string) => (n === '0' ? `${k}0` : `${k}${rel(n)}`));
    s = s.replace(/(compacted revision |--rev=|\brev=|^compaction )(\d+)/g, (_m, k: string, n: string) => `${k}${rel(n)}`);
    // Raft bookkeeping and storage size depend on the implementation, not the API.
    s = s.replace(/("(?:raft_term|raftTerm|raftIndex|raftAppliedIndex|dbSize|dbSizeInUse|RaftTerm)"\s?:\s?)\d+/g, '$1<n>');
    // Remaining lease time ticks down while the script runs.
    s = s.replace(/remaining\(\d+s\)/g, 'remaining(<s>)').replace(/("ttl":)\d+/g, '$1<s>');
    // Client-side log lines and timings.
    s = s.replace(/("ts":")[^"]+"/g, '$1<ts>"').replace(/("target":")[^"]+"/g, '$1<target>"');
    s = s.replace(/(took = )[\d.]+[a-zµ]+/g, '$1<duration>').replace(/("took":")[^"]+"/g, '$1<duration>"');
    // endpoint status, simple and table: version, db size, raft term/index/applied index.
    s = s.replace(
      /^(<client-url>, <member-id>, )[^,]+, [^,]+, (true|false), (true|false), \d+, \d+, \d+, /,
      '$1<version>, <db-size>, $2, $3, <term>, <index>, <applied>, ',
    );
    s = s.replace(/("version":")[^"]+"/g, '$1<version>"');
    // endpoint hashkv: the hash covers the backend's own encoding of the history.
    s = s.replace(/^(<client-url>, )\d+$/, '$1<hash>');
    // Tables: drop the padding, keep the cells.
    if (/^\+[-+]+\+$/.test(s)) return '+--+';
    if (/^\|.*\|$/.test(s)) {
      const cells = s.slice(1, -1).split('|').map((c) => c.trim());
      if (cells[0] === '<client-url>' && cells.length === 10) {
        cells[2] = '<version>';
        cells[3] = '<db-size>';
        cells[6] = '<term>';
        cells[7] = '<index>';
        cells[8] = '<applied>';
      }
      return `| ${cells.join(' | ')} |`;
    }
    return s;
  }
}

export class Background {
  constructor(
    private readonly session: EtcdctlSession,
    private readonly args: string[],
    private readonly child: ChildProcess,
    private readonly output: () => { stdout: string; stderr: string },
  ) {}

  stdout(): string {
    return this.output().stdout;
  }

  /** Resolves once the output satisfies `predicate`, or after `ms` (a bound: the transcript then shows what came). */
  async until(predicate: (stdout: string) => boolean, ms = 5000): Promise<boolean> {
    const deadline = Date.now() + ms;
    while (!predicate(this.stdout())) {
      if (this.child.exitCode !== null || this.child.signalCode !== null) return predicate(this.stdout());
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const done = (): void => { clearTimeout(timer); this.child.stdout!.off('data', done); this.child.off('exit', done); resolve(); };
        const timer = setTimeout(done, left);
        this.child.stdout!.on('data', done);
        this.child.once('exit', done);
      });
    }
    return true;
  }

  /** Waits for `n` watch events (lines PUT / DELETE). */
  events(n: number, ms = 5000): Promise<boolean> {
    return this.until((out) => (out.match(EVENT_LINE) ?? []).length >= n, ms);
  }

  lines(n: number, ms = 5000): Promise<boolean> {
    return this.until((out) => out.split('\n').filter((l) => l !== '').length >= n, ms);
  }

  /** Interrupts the command (as Ctrl-C would), waits for it to exit (bounded) and records it. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined) {
      process.kill(this.child.pid, 'SIGINT');
    }
    let status = 'stopped';
    try {
      await exitOf(this.child, 5000);
    } catch {
      if (this.child.pid !== undefined) process.kill(this.child.pid, 'SIGKILL');
      status = 'killed: did not exit within 5 s of SIGINT';
    }
    this.session.untrack(this.child);
    const { stdout, stderr } = this.output();
    // Our SIGINT cancels the command's context; whether an in-flight call then logs "context
    // canceled" is a race inside etcdctl, not server behaviour.
    const kept = stderr.split('\n').filter((l) => !INTERRUPT_NOISE.some((re) => re.test(l))).join('\n');
    this.session.record(this.args, stdout, kept, status);
  }

  /** Waits for the command to end by itself (bounded) and records it with its exit code. */
  async finish(ms = 10_000): Promise<void> {
    const code = await exitOf(this.child, ms);
    const { stdout, stderr } = this.output();
    this.session.record(this.args, stdout, stderr, `exit ${code}`);
  }
}

function collect(child: ChildProcess): () => { stdout: string; stderr: string } {
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString('utf8'); });
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString('utf8'); });
  return () => ({ stdout, stderr });
}

function exitOf(child: ChildProcess, ms: number): Promise<number | null> {
  if (closed.has(child)) return Promise.resolve(child.exitCode);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`etcdctl did not exit within ${ms} ms`));
    }, ms);
    // 'close' fires after stdout/stderr are drained, so the collected output is complete.
    child.once('close', (code) => { clearTimeout(timer); resolve(code); });
  });
}
