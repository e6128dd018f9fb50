// The HTTP/JSON path: `POST /<action>` with a JSON body runs the same handler as the TCP path
// and answers 200 with the JSON result, or an error status with
// `{ error: { code, message, retryable, instance, details } }`. Events: `POST /_event/<name>` → 202.
import http from 'node:http';
import { ErrorCode, ShoalError, toShoalError } from '../../errors/index.js';
import { deadlineSpent, draining, messageTooLarge } from '../errors.js';
import type { ActionHandler, CallMeta, DrainReport, EventHandler, ListeningServer } from '../types.js';
import { INSTANCE_HEADER, metaFromHeaders } from './meta.js';
import { statusForCode } from './status.js';

export const EVENT_PATH_PREFIX = '/_event/';

export interface HttpServerOptions {
  instanceId: string;
  handler: ActionHandler;
  onEvent?: EventHandler;
  onError?: (error: unknown) => void;
  host?: string;
  port?: number;
  /** Largest request body accepted. */
  maxBodyBytes?: number;
}

export const HTTP_DEFAULTS = { maxBodyBytes: 8 * 1024 * 1024 };

export class HttpServer implements ListeningServer {
  readonly url: string;
  private inFlight = 0;
  private answered = 0;
  private refused = 0;
  private isDraining = false;
  private draining: Promise<DrainReport> | undefined;
  private readonly maxBodyBytes: number;

  private constructor(
    private readonly server: http.Server,
    private readonly options: HttpServerOptions,
    host: string,
    port: number,
  ) {
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    this.maxBodyBytes = options.maxBodyBytes ?? HTTP_DEFAULTS.maxBodyBytes;
  }

  static async listen(options: HttpServerOptions): Promise<HttpServer> {
    const server = http.createServer({ keepAliveTimeout: 5_000 });
    const host = options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('http server: no address after listen');
    const self = new HttpServer(server, options, host, address.port);
    server.on('request', (req, res) => self.onRequest(req, res));
    return self;
  }

  drain(options: { timeoutMs?: number } = {}): Promise<DrainReport> {
    this.draining ??= this.runDrain(options.timeoutMs ?? 30_000);
    return this.draining;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async runDrain(timeoutMs: number): Promise<DrainReport> {
    this.isDraining = true;
    // close() stops accepting and closes idle keep-alive sockets; busy ones close after their
    // answer, which carries `connection: close`.
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    const outcome = await Promise.race([closed.then(() => 'closed' as const), timedOut]);
    clearTimeout(timer);
    let abandoned = 0;
    if (outcome === 'timeout') {
      abandoned = this.inFlight;
      this.server.closeAllConnections();
      await closed;
    }
    return { answered: this.answered, refused: this.refused, abandoned };
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const path = req.url ?? '/';
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      this.sendError(res, new ShoalError({ code: 'METHOD_NOT_ALLOWED', message: `${req.method} ${path}: use POST`, retryable: false }), 405);
      req.resume();
      return;
    }
    if (this.isDraining) {
      this.refused++;
      this.sendError(res, draining(this.options.instanceId));
      req.resume();
      return;
    }
    const declared = Number(req.headers['content-length'] ?? 0);
    if (declared > this.maxBodyBytes) {
      this.rejectTooLarge(req, res, declared);
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      received += chunk.length;
      if (received > this.maxBodyBytes) {
        tooLarge = true;
        this.rejectTooLarge(req, res, received);
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!tooLarge) this.dispatch(path, req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    });
    req.on('error', (err) => this.options.onError?.(err));
  }

  private dispatch(path: string, req: http.IncomingMessage, res: http.ServerResponse, body: Buffer): void {
    let name: string;
    let params: unknown;
    let meta: CallMeta;
    const isEvent = path.startsWith(EVENT_PATH_PREFIX);
    try {
      name = decodeURIComponent(path.slice(isEvent ? EVENT_PATH_PREFIX.length : 1).split('?')[0]!);
      if (name.length === 0) throw new TypeError('no action in the path (POST /<action>)');
      params = body.length === 0 ? undefined : (JSON.parse(body.toString('utf8')) as unknown);
      meta = metaFromHeaders(req.headers);
    } catch (err) {
      this.sendError(res, new ShoalError({ code: ErrorCode.INVALID_ARGUMENT, message: `bad request: ${(err as Error).message}`, retryable: false }));
      return;
    }
    if (isEvent) {
      try {
        this.options.onEvent?.(name, params, meta);
      } catch (err) {
        this.options.onError?.(err);
      }
      res.statusCode = 202;
      res.setHeader(INSTANCE_HEADER, this.options.instanceId);
      res.end();
      return;
    }
    if (meta.deadlineMs !== undefined && !(meta.deadlineMs > 0)) {
      this.sendError(res, deadlineSpent(`action ${name}`));
      return;
    }
    this.inFlight++;
    const finished = (): void => {
      this.inFlight--;
      if (this.isDraining) this.answered++;
    };
    let result: unknown;
    try {
      result = this.options.handler(name, params, meta);
    } catch (err) {
      finished();
      this.sendError(res, err);
      return;
    }
    Promise.resolve(result).then(
      (value) => {
        finished();
        this.sendResult(res, value);
      },
      (err: unknown) => {
        finished();
        this.sendError(res, err);
      },
    );
  }

  private sendResult(res: http.ServerResponse, value: unknown): void {
    let text: string;
    try {
      text = JSON.stringify(value === undefined ? null : value);
    } catch (err) {
      this.sendError(res, new ShoalError({ code: ErrorCode.INTERNAL, message: `result not serializable: ${(err as Error).message}`, retryable: false }));
      return;
    }
    res.statusCode = 200;
    this.send(res, text);
  }

  private sendError(res: http.ServerResponse, err: unknown, status?: number): void {
    let error = toShoalError(err, this.options.instanceId);
    if (error.instance === undefined) error = error.withInstance(this.options.instanceId);
    const json = error.toJSON();
    res.statusCode = status ?? statusForCode(error.code, error.retryable);
    this.send(res, JSON.stringify({ error: { code: json.code, message: json.message, retryable: json.retryable, instance: json.instance, details: json.details } }));
  }

  private send(res: http.ServerResponse, text: string): void {
    if (res.headersSent || res.destroyed) return;
    res.setHeader('content-type', 'application/json');
    res.setHeader('content-length', Buffer.byteLength(text));
    res.setHeader(INSTANCE_HEADER, this.options.instanceId);
    if (this.isDraining) res.setHeader('connection', 'close');
    res.end(text);
  }

  private rejectTooLarge(req: http.IncomingMessage, res: http.ServerResponse, bytes: number): void {
    // The rest of the body is not read: closing the connection after the answer is the only way out.
    res.setHeader('connection', 'close');
    this.sendError(res, messageTooLarge('request body', bytes, this.maxBodyBytes, false, this.options.instanceId));
    req.resume();
  }
}
