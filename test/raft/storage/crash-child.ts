// Child for crash.test.ts: persists Readys (entries + hard state) back to back, takes a local
// snapshot now and then (releasing WAL segments), and prints each durable last index.
// Run as: node --import tsx crash-child.ts <dir>
import type { ConfState, Entry } from '../../../src/raft/index.js';
import { DiskStorage } from '../../../src/raft/storage/index.js';

const conf: ConfState = { voters: [1], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
const dataFor = (index: number): Buffer => Buffer.from(`entry-${index}-`.padEnd(40 + (index % 50), 'x'));

const dir = process.argv[2];
const { storage, state } = await DiskStorage.open({ dir, segmentBytes: 8 * 1024 });
let last = state.entries.at(-1)?.index ?? state.snapshot?.meta.index ?? 0;
if (last === 0) {
  await storage.persist({ snapshot: { meta: { index: 1, term: 1, conf }, data: Buffer.alloc(0) }, entries: [], hardState: { term: 1, vote: 0, commit: 1 } });
  last = 1;
}
const term = state.hardState.term + 1;
for (let round = 0; ; round++) {
  const entries: Entry[] = [];
  for (let i = 1; i <= 1 + (round % 7); i++) entries.push({ term, index: last + i, type: 'normal', data: dataFor(last + i) });
  last += entries.length;
  await storage.persist({ entries, hardState: { term, vote: 1, commit: last } });
  process.stdout.write(`ack ${last}\n`);
  if (round % 40 === 39) await storage.saveSnapshot({ meta: { index: last - 5, term, conf }, data: Buffer.from(`upto-${last - 5}`) });
}
