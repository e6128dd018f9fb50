// etcdserverpb.Watch: one bidirectional stream carries many watches. Like etcd, watch ids are
// per stream, chosen by the server from 0 up unless the client picks one. The node's watch hub
// does the work (history replay, compaction cancel, catch-up of slow watchers); this layer maps
// ids, turns hub messages into WatchResponses and refuses events while the client is not
// reading, so the hub replays them later instead of the server buffering without bound.
import type * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { bytes, int64, nonNegative, type WireMsg } from '../node/index.js';
import { CoordError, type KeyValue, type WatchEvent } from '../types.js';
import type { WatchFilter, WatchMessage, WatchRequest } from '../index.js';
import type { CoordBackend } from './backend.js';
import { MAX_REQUEST_BYTES, serviceDefinition, type ServiceDef } from './codec.js';
import { failStream, type Duplex, type OpenStreams } from './stream.js';
import { streamRefusal } from './unary.js';

type WatchOp =
  | { op: 'create'; req: WatchRequest; watchId: number; fragment: boolean }
  | { op: 'cancel'; watchId: number }
  | { op: 'progress' };

const FILTERS: readonly WatchFilter[] = ['NOPUT', 'NODELETE'];
/** etcd answers progress requests with this watch id (clientv3.InvalidWatchID). */
const NO_WATCH_ID = -1;
/** Unsent output beyond which event batches are refused (the hub replays them later). */
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

function watchOpFromWire(m: WireMsg): WatchOp {
  switch (m.requestUnion) {
    case 'createRequest': {
      const c = m.createRequest as WireMsg;
      const filters = (c.filters as number[]).map((f) => {
        const name = FILTERS[f];
        if (name === undefined) throw new CoordError('INVALID_ARGUMENT', `shoal: invalid watch filter ${f}`);
        return name;
      });
      let key = bytes(c.key);
      // etcd: an empty key means the smallest key, "\0".
      if (key.length === 0) key = Buffer.from([0]);
      return {
        op: 'create',
        req: {
          key,
          rangeEnd: bytes(c.rangeEnd),
          startRevision: nonNegative(c.startRevision, 'start_revision'),
          prevKv: c.prevKv === true,
          filters,
          progressNotify: c.progressNotify === true,
        },
        watchId: nonNegative(c.watchId, 'watch_id'),
        fragment: c.fragment === true,
      };
    }
    case 'cancelRequest':
      return { op: 'cancel', watchId: int64((m.cancelRequest as WireMsg).watchId, 'watch_id') };
    case 'progressRequest':
      return { op: 'progress' };
    default:
      throw new CoordError('INVALID_ARGUMENT', 'shoal: watch request has no create, cancel or progress request');
  }
}

function wireEvent(e: WatchEvent): object {
  return { type: e.type === 'PUT' ? 0 : 1, kv: e.kv, prevKv: e.prevKv };
}

function kvBytes(kv: KeyValue | null): number {
  return kv === null ? 0 : kv.key.length + kv.value.length + 48;
}

export function watchService(
  node: CoordBackend,
  log: Logger,
  streams: OpenStreams,
): [ServiceDef, grpc.UntypedServiceImplementation] {
  const def = serviceDefinition('etcdserverpb.Watch', { Watch: watchOpFromWire });

  const serve = (call: Duplex) => {
    const refused = streamRefusal(node);
    if (refused !== null) return failStream(call, refused, log);
    /** Client watch id -> hub watch id. */
    const hubIds = new Map<number, number>();
    let nextId = 0;
    let ended = false;

    const send = (msg: object) => {
      if (!ended) call.write(msg);
    };

    const sendEvents = (watchId: number, revision: number, events: WatchEvent[], fragment: boolean) => {
      const wire = events.map(wireEvent);
      if (fragment) {
        // Split so that no response exceeds the request limit; all but the last say so.
        let start = 0;
        let size = 0;
        for (let i = 0; i < events.length; i++) {
          const n = kvBytes(events[i].kv) + kvBytes(events[i].prevKv);
          if (i > start && size + n > MAX_REQUEST_BYTES) {
            send({ header: node.header(revision), watchId, events: wire.slice(start, i), fragment: true });
            start = i;
            size = 0;
          }
          size += n;
        }
        if (start > 0) {
          send({ header: node.header(revision), watchId, events: wire.slice(start) });
          return;
        }
      }
      send({ header: node.header(revision), watchId, events: wire });
    };

    const stop = () => {
      if (ended) return;
      ended = true;
      for (const hubId of hubIds.values()) node.cancelWatch(hubId);
      hubIds.clear();
    };
    streams.add(call, stop);

    const create = (op: Extract<WatchOp, { op: 'create' }>) => {
      let id = op.watchId;
      if (id === 0) {
        while (hubIds.has(nextId)) nextId++;
        id = nextId++;
      } else if (hubIds.has(id)) {
        send({
          header: node.header(node.revision),
          watchId: NO_WATCH_ID,
          created: true,
          canceled: true,
          cancelReason: 'mvcc: duplicate watch ID provided on the WatchStream',
        });
        return;
      }
      const sink = (msg: WatchMessage): boolean => {
        if (ended) return msg.kind !== 'events';
        switch (msg.kind) {
          case 'created':
            send({ header: node.header(msg.revision), watchId: id, created: true });
            return true;
          case 'events':
            if (call.writableLength > HIGH_WATER_BYTES) return false;
            sendEvents(id, msg.revision, msg.events, op.fragment);
            return true;
          case 'progress':
            if (call.writableLength > HIGH_WATER_BYTES) return false;
            send({ header: node.header(msg.revision), watchId: id });
            return true;
          case 'canceled':
            hubIds.delete(id);
            send({
              header: node.header(msg.revision),
              watchId: id,
              canceled: true,
              compactRevision: msg.compactRevision,
              cancelReason: msg.compactRevision > 0 ? 'etcdserver: mvcc: required revision has been compacted' : msg.reason,
            });
            return true;
        }
      };
      // Reserve the id before the hub answers: `created` (and maybe `canceled`) arrive at once.
      hubIds.set(id, -1);
      const hubId = node.watch(op.req, sink);
      if (hubIds.get(id) === -1) hubIds.set(id, hubId);
    };

    call.on('data', (op: WatchOp | CoordError) => {
      if (ended) return;
      if (op instanceof CoordError) return failStream(call, op, log);
      try {
        if (op.op === 'create') create(op);
        else if (op.op === 'cancel') {
          const hubId = hubIds.get(op.watchId);
          if (hubId !== undefined) node.cancelWatch(hubId);
        } else {
          // Progress means "every event up to this revision was sent": only true once every
          // watch on the stream has caught up.
          for (const hubId of hubIds.values()) if (!node.isWatchSynced(hubId)) return;
          send({ header: node.header(node.revision), watchId: NO_WATCH_ID });
        }
      } catch (err) {
        failStream(call, err, log);
      }
    });
    call.on('end', () => {
      stop();
      call.end();
    });
  };

  return [def, { Watch: serve }];
}
