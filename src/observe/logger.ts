// Structured logs: pino, one JSON line per event, to stderr unless a destination is given (stdout
// stays free for a CLI's own output). Every line carries service and instanceId; a handler's lines
// also carry traceId and spanId (withTrace) so a log search and a trace meet.
import { pino, type Bindings, type ChildLoggerOptions, type DestinationStream, type Logger } from 'pino';
import { redactSecrets } from './redact.js';

export interface LoggerOptions {
  service: string;
  instanceId: string;
  /** pino level name; default `info`. */
  level?: string;
  /** Default: stderr (fd 2), written synchronously so nothing is lost on exit. */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? pino.destination({ dest: 2, sync: true });
  const logger = pino(
    {
      level: options.level ?? 'info',
      base: { service: options.service, instanceId: options.instanceId },
      formatters: { log: (object) => redactSecrets(object) },
    },
    destination,
  );
  redactChildBindings(logger);
  return logger;
}

/**
 * pino applies formatters.bindings to the root's base only (children reset it), so a child's
 * bindings — `logger.child({ params })` — are redacted here instead. Children are created with
 * Object.create(parent), so this own property on the root is what every descendant calls too.
 */
function redactChildBindings(logger: Logger): void {
  // pino types child() generically over custom levels; the wrapper passes options through untouched.
  type ChildFn = (this: Logger, bindings: Bindings, options?: ChildLoggerOptions<string>) => Logger;
  const child = logger.child as unknown as ChildFn;
  const setBindings = logger.setBindings;
  const redactingChild: ChildFn = function (bindings, childOptions) {
    return child.call(this, redactSecrets(bindings), childOptions);
  };
  logger.child = redactingChild as unknown as Logger['child'];
  logger.setBindings = function (this: Logger, bindings) {
    setBindings.call(this, redactSecrets(bindings));
  };
}

/** The ids a log line needs to be found from its trace; a SpanHandle satisfies this. */
export interface TraceIds {
  readonly traceId: string;
  readonly spanId: string;
}

/** A child logger whose lines carry the span's traceId and spanId (plus any extra bindings). */
export function withTrace(logger: Logger, span: TraceIds, bindings?: Record<string, unknown>): Logger {
  return logger.child({ ...bindings, traceId: span.traceId, spanId: span.spanId });
}
