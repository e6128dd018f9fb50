import { afterEach, describe, expect, it } from 'vitest';
import type { Message, NodeId } from '../../../src/raft/index.js';
import { PeerTransport, type TransportOptions } from '../../../src/raft/transport/index.js';

const CLUSTER = 'test-cluster';
const open: PeerTransport[] = [];
afterEach(async () => {
  for (const t of open.splice(0)) await t.close();
});

function msg(from: NodeId, to: NodeId, index: number, dataBytes = 0): Message {
  return {
    type: 'app', from, to, term: 1, logTerm: 1, index, commit: 0, reject: false, rejectHint: 0,
    entries: dataBytes > 0 ? [{ term: 1, index: index + 1, type: 'normal', data: new Uint8Array(dataBytes).fill(index & 0xff) }] : [],
  };
}

/** Resolves `until(pred)` once `pred` holds, re-checked on every `notify()`. */
class Condition {
  private waiters: { pred: () => boolean; resolve: () => void }[] = [];
  notify(): void {
    this.waiters = this.waiters.filter((w) => (w.pred() ? (w.resolve(), false) : true));
  }
  until(pred: () => boolean): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ pred, resolve }));
  }
}

/** Collects received messages. */
class Inbox {
  readonly messages: Message[] = [];
  private readonly changed = new Condition();
  readonly onMessage = (m: Message): void => {
    this.messages.push(m);
    this.changed.notify();
  };
  until(pred: (msgs: Message[]) => boolean): Promise<void> {
    return this.changed.until(() => pred(this.messages));
  }
}

async function start(nodeId: NodeId, onMessage: (m: Message) => void, extra: Partial<TransportOptions> = {}): Promise<PeerTransport> {
  const t = await PeerTransport.listen({ clusterId: CLUSTER, nodeId, onMessage, ...extra });
  open.push(t);
  return t;
}

/** Repeats `action` every few ms until `done` settles: retrying a send, bounded by the test timeout. */
async function retryUntil(done: Promise<void>, action: () => void): Promise<void> {
  let settled = false;
  void done.then(() => (settled = true));
  while (!settled) {
    action();
    await Promise.race([done, new Promise((r) => setTimeout(r, 10))]);
  }
}

describe('PeerTransport', () => {
  it('delivers messages in order, batching many into few writes', async () => {
    const inbox = new Inbox();
    const b = await start(2, inbox.onMessage);
    const a = await start(1, () => undefined, { peers: new Map([[2, b.address]]) });
    const total = 2000;
    for (let i = 0; i < total; i++) a.send([msg(1, 2, i, 100)]);
    await inbox.until((m) => m.length === total);
    expect(inbox.messages.map((m) => m.index)).toEqual(Array.from({ length: total }, (_, i) => i));
    expect(inbox.messages[7].entries[0].data).toEqual(new Uint8Array(100).fill(7));
    const link = a.stats().peers.get(2);
    expect(link?.sent).toBe(total);
    expect(link?.dropped).toBe(0);
    expect(link?.writes).toBeLessThan(total / 10);
    expect(b.stats().received).toBe(total);
  });

  it('with now, writes one batch per call at once instead of at the end of the operation', async () => {
    const inbox = new Inbox();
    const b = await start(2, inbox.onMessage);
    const a = await start(1, () => undefined, { peers: new Map([[2, b.address]]) });
    await retryUntil(inbox.until((m) => m.length > 0), () => a.send([msg(1, 2, 0)]));
    const before = a.stats().peers.get(2)!;
    a.send([msg(1, 2, 1), msg(1, 2, 2)], true);
    const after = a.stats().peers.get(2)!;
    expect(after.writes).toBe(before.writes + 1);
    expect(after.sent).toBe(before.sent + 2);
    expect(after.queued).toBe(0);
    await inbox.until((m) => m.some((x) => x.index === 2));
    expect(inbox.messages.map((m) => m.index).filter((i) => i > 0)).toEqual([1, 2]);
  });

  it('reconnects after the peer restarts on the same address', async () => {
    const first = new Inbox();
    const b = await start(2, first.onMessage);
    const port = b.address.port;
    const unreachable: NodeId[] = [];
    const a = await start(1, () => undefined, {
      peers: new Map([[2, b.address]]),
      onUnreachable: (p) => unreachable.push(p),
    });
    a.send([msg(1, 2, 1)]);
    await first.until((m) => m.length === 1);
    await b.close();

    const second = new Inbox();
    await start(2, second.onMessage, { port });
    let index = 100;
    await retryUntil(second.until((m) => m.length > 0), () => a.send([msg(1, 2, index++)]));
    expect(second.messages[0].index).toBeGreaterThanOrEqual(100);
    expect(a.stats().peers.get(2)?.connects).toBe(2);
    expect(unreachable).toContain(2);
  });

  it('bounds the per-peer queue and counts what it drops', async () => {
    // A listener that never completes the handshake: messages can only queue.
    const silent = await start(9, () => undefined);
    const port = silent.address.port;
    await silent.close();
    const unreachable: NodeId[] = [];
    const a = await start(1, () => undefined, {
      peers: new Map([[2, { host: '127.0.0.1', port }]]),
      maxQueuedMessages: 100,
      onUnreachable: (p) => unreachable.push(p),
    });
    for (let i = 0; i < 1000; i++) a.send([msg(1, 2, i)]);
    const s = a.stats().peers.get(2);
    expect(s?.queued).toBe(100);
    expect(s?.dropped).toBe(900);
    expect(s?.connected).toBe(false);
    expect(unreachable).toEqual([2]);
  });

  it('refuses a peer that dials the wrong node or cluster', async () => {
    const inbox = new Inbox();
    const refusals: string[] = [];
    let twoRefused: () => void = () => undefined;
    const refused = new Promise<void>((resolve) => (twoRefused = resolve));
    const b = await start(2, inbox.onMessage, {
      onRefused: (reason) => {
        refusals.push(reason);
        if (refusals.length === 2) twoRefused();
      },
    });
    const dialerErrors = new Condition();
    const errors: string[] = [];
    const onLinkError = (_peer: NodeId, message: string) => {
      errors.push(message);
      dialerErrors.notify();
    };
    const wrongNode = await start(1, () => undefined, { peers: new Map([[3, b.address]]), onLinkError });
    const wrongCluster = await PeerTransport.listen({
      clusterId: 'other', nodeId: 4, onMessage: () => undefined, peers: new Map([[2, b.address]]), onLinkError,
    });
    open.push(wrongCluster);
    wrongNode.send([msg(1, 3, 1)]);
    wrongCluster.send([msg(4, 2, 1)]);
    await refused;
    await dialerErrors.until(() => errors.filter((e) => e.startsWith('refused')).length >= 2);
    expect(refusals.sort()).toEqual(['addressed to node 3, this is node 2', 'cluster "other", this is cluster "test-cluster"']);
    expect(inbox.messages).toEqual([]);
    expect(wrongNode.stats().peers.get(3)?.lastError ?? '').toMatch(/addressed to node 3, this is node 2/);
    expect(wrongCluster.stats().peers.get(2)?.lastError ?? '').toMatch(/cluster "other"/);
  });

  it('refuses to send local message kinds', async () => {
    const a = await start(1, () => undefined);
    expect(() => a.send([{ ...msg(1, 1, 0), type: 'hup' }])).toThrow(/local message/);
  });
});
