// Child for crash.test.ts: appends records with many in flight and prints each acknowledged
// LSN, until it is killed. Run as: node --import tsx crash-child.ts <dir>
import { Wal } from '../../src/wal/index.js';
import { payloadFor } from './helpers.js';

const dir = process.argv[2];
const { wal, records } = await Wal.open({ dir, segmentBytes: 16 * 1024 });
process.stdout.write(`open ${records.length}\n`);

const IN_FLIGHT = 16;
async function writer(): Promise<never> {
  for (;;) {
    const lsn = wal.nextLsn;
    const acked = await wal.append(payloadFor(lsn));
    if (acked !== lsn) throw new Error(`acked ${acked}, expected ${lsn}`);
    process.stdout.write(`ack ${acked}\n`);
  }
}
await Promise.all(Array.from({ length: IN_FLIGHT }, writer));
