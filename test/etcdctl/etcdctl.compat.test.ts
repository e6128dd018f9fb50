// etcdctl compatibility: one command script (script.ts) against each server; the normalized
// transcript must equal the one recorded from etcd 3.4 (expected-etcd-3.4.txt). On a mismatch
// the test prints a line diff. Re-record from etcd with UPDATE_ETCDCTL_GOLDEN=1
// SHOAL_CONTRACT_SERVERS=etcd (and review the diff of the file).
import { accessSync, constants as fsConstants, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ETCDCTL_BIN } from '../support/etcd-server.js';
import { SERVERS, useServer } from '../contract/harness.js';
import { EtcdctlSession } from './ctl.js';
import { lineDiff } from './diff.js';
import { etcdctlScript } from './script.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'expected-etcd-3.4.txt');

describe.each(SERVERS)('etcdctl against $name', (kind) => {
  const fx = useServer(kind);

  it('prints what etcd prints for the command script', async () => {
    try {
      accessSync(ETCDCTL_BIN, fsConstants.X_OK);
    } catch {
      throw new Error(`etcdctl not found at ${ETCDCTL_BIN}: install Debian's etcd-client (CI does) or set ETCDCTL_BIN`);
    }
    const ctl = new EtcdctlSession(fx.server.endpoints[0]!, fx.client());
    await ctl.init();
    try {
      await etcdctlScript(ctl);
    } finally {
      ctl.killAll();
    }
    const actual = ctl.transcript();
    if (process.env['UPDATE_ETCDCTL_GOLDEN'] === '1' && kind.name === 'etcd') {
      writeFileSync(GOLDEN, actual);
    }
    const golden = readFileSync(GOLDEN, 'utf8');
    const diff = lineDiff(golden, actual);
    if (diff !== '') {
      // The diff is the readable part of the failure; the transcript helps when many lines moved.
      console.log(`etcdctl transcript on ${kind.name} differs from etcd:\n${diff}`);
    }
    expect(diff, `etcdctl output on ${kind.name} differs from etcd (diff above)`).toBe('');
  });
});
