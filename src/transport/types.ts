// The contracts every transport shares: what a call carries besides its params, what a server
// runs, and what a client offers the runtime. Engine-specific options live next to each engine.

/** Header (HTTP) and meta field (TCP) for the caller's remaining budget, in whole milliseconds. */
export const DEADLINE_HEADER = 'shoal-deadline-ms';

/**
 * What travels with a call besides params. Known fields have fixed wire names (HTTP headers
 * `shoal-deadline-ms`, `traceparent`, `tracestate`, `shoal-caller-id`); any other field is carried
 * as-is (TCP) or as JSON in the `shoal-meta` header (HTTP).
 */
export interface CallMeta {
  /** Remaining budget when the request was sent; the receiver re-anchors it on its own clock. */
  deadlineMs?: number;
  /** W3C trace context. */
  traceparent?: string;
  tracestate?: string;
  /** Instance id of the caller. */
  callerId?: string;
  [key: string]: unknown;
}

export interface CallOptions {
  /** Bound on this call; the tighter of this and `meta.deadlineMs` is used and sent downstream. */
  timeoutMs?: number;
}

/** Runs an action on the serving instance. Throw a ShoalError to answer with a typed error. */
export type ActionHandler = (action: string, params: unknown, meta: CallMeta) => Promise<unknown> | unknown;

/** Receives pushed events. Errors are logged by the caller of the hook, never sent back. */
export type EventHandler = (event: string, payload: unknown, meta: CallMeta) => void;

/** One interface over every transport; the runtime calls through it after balancing picked a URL. */
export interface TransportClient {
  call<T = unknown>(endpointUrl: string, action: string, params: unknown, meta?: CallMeta, options?: CallOptions): Promise<T>;
  /** Fire-and-forget push; resolves once the event was handed to the connection (TCP) or accepted (HTTP). */
  emit(endpointUrl: string, event: string, payload: unknown, meta?: CallMeta): Promise<void>;
  /** Fails whatever is still in flight with CLIENT_CLOSED and closes every connection. */
  close(): Promise<void>;
}

/** A listening endpoint: its URL, and the two ways to stop it. */
export interface ListeningServer {
  readonly url: string;
  /** Stops accepting, answers everything already received, then closes. Bounded by `timeoutMs`. */
  drain(options?: { timeoutMs?: number }): Promise<DrainReport>;
  /** Closes at once; requests in flight are not answered. */
  close(): Promise<void>;
}

export interface DrainReport {
  /** Requests answered while draining (they had arrived before it began). */
  answered: number;
  /** Requests that arrived after draining began and were refused as retryable UNAVAILABLE. */
  refused: number;
  /** Requests still unanswered when the timeout forced the close (0 for a clean drain). */
  abandoned: number;
}
