// The primary of a gateway cluster (SHOAL_GATEWAY_WORKERS > 1): it serves nothing. It forks the
// workers (node:cluster deals the shared port's connections to them round-robin), prints the
// ready line once all of them listen, restarts a worker that dies unexpectedly (with backoff),
// relays revocations and metrics between workers, and on SIGTERM / SIGINT lets each worker drain
// and exits 0 when all did. If the primary itself dies, node:cluster makes every worker exit.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import { isGatewayMessage, type Body, type MetricsJson, type PrimaryToWorker, type WorkerToPrimary } from './cluster-messages.js';
import { prepareSharedState } from './cluster-shared-state.js';
import { RevocationLog } from './revocation-log.js';
import { readGatewayEnv } from './run.js';

/** Restart delay after an unexpected exit: doubles per quick crash, from 250 ms up to 10 s. */
const RESTART_MIN_MS = 250;
const RESTART_MAX_MS = 10_000;
/** A worker that lived this long is healthy: the next crash starts the backoff over. */
const HEALTHY_AFTER_MS = 30_000;
/** Bound on collecting the workers' metrics for one /metrics request. */
const COLLECT_TIMEOUT_MS = 2_000;

interface Slot {
  worker: Worker | undefined;
  startedAt: number;
  failures: number;
  timer: NodeJS.Timeout | undefined;
}

function log(line: string): void {
  process.stderr.write(`gateway primary: ${line}\n`);
}

function toWorker(worker: Worker, message: Body<PrimaryToWorker>): void {
  // A send that fails (the worker is exiting) is dropped: its exit is handled on its own.
  if (worker.isConnected()) worker.send({ shoal: 'gateway', ...message }, undefined, () => undefined);
}

export async function runGatewayPrimary(count: number, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const config = readGatewayEnv(env); // refuse bad configuration once, before forking
  if (config.dataDir === undefined) {
    throw new TypeError('SHOAL_GATEWAY_WORKERS > 1 needs SHOAL_DATA_DIR: the workers share signing keys and refresh tokens through it');
  }
  await prepareSharedState(config.dataDir);

  const slots: Slot[] = Array.from({ length: count }, () => ({ worker: undefined, startedAt: 0, failures: 0, timer: undefined }));
  const listening = new Set<number>();
  let url: string | undefined;
  let ready = false;
  let stopping = false;
  let exitCode = 0;
  const revocations = new RevocationLog();
  let nextCollect = 0;
  const collecting = new Map<number, { parts: MetricsJson[]; waiting: number; finish: () => void }>();

  const live = (): Worker[] => slots.flatMap((s) => (s.worker !== undefined ? [s.worker] : []));

  const stopAll = (code: number): void => {
    exitCode = Math.max(exitCode, code);
    if (stopping) return;
    stopping = true;
    for (const slot of slots) clearTimeout(slot.timer);
    // Each worker drains on its own SIGTERM (bounded by its drainMs); this bounds the lot.
    setTimeout(() => {
      log(`workers still running ${config.drainMs + 5_000} ms after SIGTERM; killing them`);
      for (const w of live()) w.process.kill('SIGKILL');
      process.exit(1);
    }, config.drainMs + 5_000).unref();
    for (const w of live()) w.process.kill('SIGTERM');
    if (live().length === 0) process.exit(exitCode);
  };

  const collectMetrics = (asker: Worker, id: number): void => {
    const workers = live().filter((w) => w.isConnected());
    const collectId = nextCollect++;
    const parts: MetricsJson[] = [];
    const finish = (): void => {
      if (!collecting.delete(collectId)) return;
      clearTimeout(timer);
      try {
        const registry = AggregatorRegistry.aggregate(parts);
        registry.metrics().then(
          (text) => toWorker(asker, { kind: 'metrics-result', id, text, contentType: registry.contentType }),
          (err: unknown) => toWorker(asker, { kind: 'metrics-result', id, error: String(err) }),
        );
      } catch (err) {
        toWorker(asker, { kind: 'metrics-result', id, error: String(err) });
      }
    };
    // A worker that does not answer in time (busy, dying) is left out rather than failing the scrape.
    const timer = setTimeout(finish, COLLECT_TIMEOUT_MS);
    collecting.set(collectId, { parts, waiting: workers.length, finish });
    for (const w of workers) toWorker(w, { kind: 'metrics-collect', collectId });
  };

  const onMessage = (slotIndex: number, worker: Worker, message: unknown): void => {
    if (!isGatewayMessage<WorkerToPrimary>(message)) return;
    switch (message.kind) {
      case 'hello':
        // A worker forked after revocations must deny those tokens too (it queues them until it starts).
        for (const token of revocations.live()) toWorker(worker, { kind: 'revoked', token });
        break;
      case 'listening':
        if (url !== undefined && message.url !== url) log(`worker ${worker.process.pid} listens on ${message.url}, not ${url}`);
        url ??= message.url;
        listening.add(slotIndex);
        if (!ready && listening.size === count) {
          ready = true;
          process.stdout.write(`gateway listening on ${url}\n`);
        }
        break;
      case 'revoked':
        revocations.add(message.token);
        for (const w of live()) if (w !== worker) toWorker(w, { kind: 'revoked', token: message.token });
        break;
      case 'metrics-request':
        collectMetrics(worker, message.id);
        break;
      case 'metrics-part': {
        const c = collecting.get(message.collectId);
        if (c === undefined) break;
        c.parts.push(message.metrics);
        if (--c.waiting === 0) c.finish();
        break;
      }
    }
  };

  const fork = (index: number): void => {
    const slot = slots[index]!;
    slot.timer = undefined;
    const worker = cluster.fork();
    slot.worker = worker;
    slot.startedAt = Date.now();
    worker.on('message', (message: unknown) => onMessage(index, worker, message));
    worker.on('error', (err) => log(`worker ${worker.process.pid}: ${err.message}`));
    worker.once('exit', (code, signal) => {
      slot.worker = undefined;
      const how = signal !== null ? `signal ${signal}` : `code ${code}`;
      if (stopping) {
        if (code !== 0) {
          log(`worker ${worker.process.pid} exited with ${how} while stopping`);
          exitCode = 1;
        }
        if (live().length === 0) process.exit(exitCode);
        return;
      }
      if (!ready) {
        // As the single-process gateway does, a start that fails ends the process; its supervisor decides.
        log(`worker ${worker.process.pid} exited with ${how} before every worker listened; stopping`);
        stopAll(1);
        return;
      }
      listening.delete(index);
      slot.failures = Date.now() - slot.startedAt >= HEALTHY_AFTER_MS ? 1 : slot.failures + 1;
      const delay = Math.min(RESTART_MAX_MS, RESTART_MIN_MS * 2 ** (slot.failures - 1));
      log(`worker ${worker.process.pid} exited with ${how}; restarting it in ${delay} ms`);
      slot.timer = setTimeout(() => fork(index), delay);
    });
  };

  process.once('SIGTERM', () => (log('SIGTERM, draining workers'), stopAll(0)));
  process.once('SIGINT', () => (log('SIGINT, draining workers'), stopAll(0)));
  for (let i = 0; i < count; i++) fork(i);
}
