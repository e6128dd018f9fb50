// The etcdctl command script run against every server. It starts on an empty store and is fully
// sequential, so on a conforming server every output is the same apart from the placeholders of
// ctl.ts. Revisions are written relative to R, the revision of the first put.
import type { EtcdctlSession } from './ctl.js';

export async function etcdctlScript(ctl: EtcdctlSession): Promise<void> {
  ctl.note('a fresh server shows no keys');
  await ctl.run(['get', '', '--from-key', '--keys-only']);
  ctl.setBase((await ctl.currentRevision()) + 1n);

  ctl.note('put');
  await ctl.run(['put', '/ctl/a', '1', '-w', 'json']); // R
  await ctl.run(['put', '/ctl/b', '2']); // R+1
  await ctl.run(['put', '/ctl/c', '3']); // R+2
  await ctl.run(['put', '/ctl/a', '10', '--prev-kv']); // R+3
  await ctl.run(['put', '/ctl/d', 'value with spaces']); // R+4

  ctl.note('get');
  await ctl.run(['get', '/ctl/a']);
  await ctl.run(['get', '/ctl', '--prefix']);
  await ctl.run(['get', '/ctl/a', `--rev=${ctl.rev(0)}`]);
  await ctl.run(['get', '/ctl', '--prefix', '--keys-only']);
  await ctl.run(['get', '/ctl', '--prefix', '--limit=2']);
  await ctl.run(['get', '/ctl', '--prefix', '--sort-by=MODIFY', '--order=DESCEND']);
  await ctl.run(['get', '/ctl', '--prefix', '--sort-by=VALUE']);
  await ctl.run(['get', '/ctl', '--prefix', '--sort-by=VERSION', '--order=DESCEND', '--limit=1']);
  await ctl.run(['get', '/ctl', '--prefix', '-w', 'json']);
  await ctl.run(['get', '/ctl/a', '-w', 'fields']);
  await ctl.run(['get', '/ctl/a', '/ctl/c']);
  await ctl.run(['get', '/ctl', '--prefix', '--print-value-only']);
  await ctl.run(['get', '/ctl/missing']);
  await ctl.run(['get', '/ctl/missing', '-w', 'json']);

  ctl.note('del');
  await ctl.run(['del', '/ctl/c', '--prev-kv']); // R+5
  await ctl.run(['del', '/ctl/missing']);
  await ctl.run(['del', '/ctl/d', '-w', 'json']); // R+6

  ctl.note('txn, interactive, from stdin');
  await ctl.run(['txn', '-i'], { stdin: 'value("/ctl/a") = "10"\n\nput /ctl/txn yes\nget /ctl/a\n\nput /ctl/txn no\n\n' }); // R+7
  await ctl.run(['txn', '-i', '-w', 'json'], { stdin: 'mod("/ctl/a") > "1000"\n\nput /ctl/txn yes\n\nput /ctl/txn no\nget /ctl/txn\n\n' }); // R+8
  await ctl.run(['txn', '-i'], { stdin: 'version("/ctl/b") = "1"\ncreate("/ctl/missing") = "0"\n\ndel /ctl/txn --prev-kv\n\n\n' }); // R+9

  ctl.note('watch: history from R, then live with --prev-kv');
  const history = ctl.start(['watch', '/ctl', '--prefix', `--rev=${ctl.rev(0)}`]);
  await history.events(10);
  await history.stop();
  const live = ctl.start(['watch', '/ctl/live', '--prev-kv', `--rev=${ctl.rev(10)}`]);
  await ctl.run(['put', '/ctl/live', 'x1']); // R+10
  await ctl.run(['put', '/ctl/live', 'x2']); // R+11
  await ctl.run(['del', '/ctl/live']); // R+12
  await live.events(3);
  await live.stop();

  ctl.note('lease');
  const l1 = ctl.learnLease((await ctl.run(['lease', 'grant', '60'], { grantsLease: true })).stdout);
  await ctl.run(['put', '/ctl/leased', 'v', `--lease=${l1}`]); // R+13
  await ctl.run(['lease', 'keep-alive', '--once', l1]);
  await ctl.run(['lease', 'timetolive', l1, '--keys']);
  await ctl.run(['lease', 'timetolive', l1, '--keys', '-w', 'json']);
  const l2 = ctl.learnLease((await ctl.run(['lease', 'grant', '120'], { grantsLease: true })).stdout);
  await ctl.run(['lease', 'list'], { sortTail: true });
  await ctl.run(['lease', 'revoke', l1]); // R+14: deletes /ctl/leased
  await ctl.run(['get', '/ctl/leased']);
  await ctl.run(['lease', 'timetolive', l1]);
  await ctl.run(['lease', 'revoke', l1]);
  await ctl.run(['lease', 'revoke', l2]);
  await ctl.run(['lease', 'list']);

  ctl.note('lock: with a command, then handed over from a holder to a waiter');
  await ctl.run(['lock', '/ctl-lock', '--', 'sh', '-c', 'echo key=$ETCD_LOCK_KEY rev=$ETCD_LOCK_REV']);
  const holder = ctl.start(['lock', '/ctl-lock']);
  await holder.lines(1);
  const waiter = ctl.start(['lock', '/ctl-lock', '--', 'echo', 'waiter got the lock']);
  await holder.stop();
  await waiter.finish();

  ctl.note('elect: a leader, an observer, a candidate that takes over');
  const leader = ctl.start(['elect', '/ctl-elect', 'p1']);
  await leader.lines(2);
  const observer = ctl.start(['elect', '-l', '/ctl-elect']);
  await observer.lines(2);
  const candidate = ctl.start(['elect', '/ctl-elect', 'p2']);
  await leader.stop();
  await candidate.lines(2);
  await observer.lines(4);
  await candidate.stop();
  await observer.stop();

  ctl.note('cluster');
  await ctl.run(['member', 'list']);
  await ctl.run(['member', 'list', '-w', 'table']);
  await ctl.run(['member', 'list', '-w', 'json']);
  await ctl.run(['endpoint', 'status']);
  await ctl.run(['endpoint', 'status', '-w', 'table']);
  await ctl.run(['endpoint', 'status', '-w', 'json']);
  await ctl.run(['endpoint', 'health']);
  await ctl.run(['endpoint', 'health', '-w', 'json']);
  await ctl.run(['endpoint', 'hashkv']);

  ctl.note('compaction');
  await ctl.run(['compaction', ctl.rev(3)]);
  await ctl.run(['get', '/ctl/a', `--rev=${ctl.rev(0)}`]);
  await ctl.run(['get', '/ctl/a', `--rev=${ctl.rev(3)}`]);
  const compacted = ctl.start(['watch', '/ctl', '--prefix', `--rev=${ctl.rev(1)}`]);
  await compacted.finish();
  await ctl.run(['compaction', ctl.rev(3)]);

  ctl.note('clean up');
  await ctl.run(['del', '/ctl', '--prefix', '--prev-kv']);
  await ctl.run(['get', '', '--from-key', '--keys-only']);
}
