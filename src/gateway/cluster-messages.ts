// The IPC vocabulary between the gateway's cluster primary and its workers (process.send over
// node:cluster's channel). Every message carries `shoal: 'gateway'` so the channel can be shared
// with other users of it (prom-client's own cluster listener, for one) without confusion.
import type { Registry } from 'prom-client';

/** One registry's getMetricsAsJSON(), as AggregatorRegistry.aggregate takes it. */
export type MetricsJson = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export type WorkerToPrimary =
  /** The worker listens for messages now (anything sent before is lost): replay what it must know. */
  | { shoal: 'gateway'; kind: 'hello' }
  /** The worker listens: `url` is what the ready line shows. */
  | { shoal: 'gateway'; kind: 'listening'; url: string }
  /** An access token was revoked through this worker: tell the others. */
  | { shoal: 'gateway'; kind: 'revoked'; token: string }
  /** GET /metrics reached this worker: it wants every worker's metrics, aggregated. */
  | { shoal: 'gateway'; kind: 'metrics-request'; id: number }
  /** This worker's own metrics, answering a collect. */
  | { shoal: 'gateway'; kind: 'metrics-part'; collectId: number; metrics: MetricsJson };

export type PrimaryToWorker =
  | { shoal: 'gateway'; kind: 'revoked'; token: string }
  | { shoal: 'gateway'; kind: 'metrics-collect'; collectId: number }
  | { shoal: 'gateway'; kind: 'metrics-result'; id: number; text: string; contentType: string }
  | { shoal: 'gateway'; kind: 'metrics-result'; id: number; error: string };

export function isGatewayMessage<T extends { shoal: 'gateway' }>(message: unknown): message is T {
  return typeof message === 'object' && message !== null && (message as { shoal?: unknown }).shoal === 'gateway';
}

/** A message without its `shoal` tag (distributed over the union, unlike a plain Omit). */
export type Body<T> = T extends unknown ? Omit<T, 'shoal'> : never;
