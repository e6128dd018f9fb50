// The control channel of a running `shoal up`: `shoal scale` and `shoal kill` talk to the
// supervisor through a Unix socket in the data dir. The socket file is created mode 0600 inside the
// data dir, so only the user who owns the cluster can scale it or kill its instances — the
// filesystem authenticates the caller, no token to leak. One JSON request per connection, one
// JSON answer back.
import { chmod, rm } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';

export const CONTROL_SOCKET = 'control.sock';

export const ControlRequest = z.discriminatedUnion('op', [
  z.object({ op: z.literal('scale'), service: z.string().regex(/^[a-z][a-z0-9-]*$/), count: z.number().int().min(0).max(32) }),
  z.object({ op: z.literal('kill'), target: z.string().min(1).max(200), pid: z.number().int().positive().optional() }),
  z.object({ op: z.literal('list') }),
]);
export type ControlRequest = z.infer<typeof ControlRequest>;

export type ControlResponse = { ok: true; message: string; children?: { name: string; pid: number | null }[] } | { ok: false; error: string };

export type ControlHandler = (request: ControlRequest) => Promise<ControlResponse>;

const MAX_REQUEST_BYTES = 4096;

export function controlSocketPath(dataDir: string): string {
  const path = join(dataDir, CONTROL_SOCKET);
  // sockaddr_un holds 108 bytes on Linux; a longer path would fail with a confusing EINVAL.
  if (Buffer.byteLength(path) > 100) throw new Error(`the data dir path is too long for a control socket (${path}); use a shorter --data-dir`);
  return path;
}

/** Serves the control socket until `close()`. A stale socket file from a crashed run is replaced. */
export async function serveControl(dataDir: string, handler: ControlHandler): Promise<{ close(): Promise<void> }> {
  const path = controlSocketPath(dataDir);
  await rm(path, { force: true });
  const server = net.createServer((socket) => {
    let buffered = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      buffered += chunk;
      if (buffered.length > MAX_REQUEST_BYTES) return reply(socket, { ok: false, error: 'request too large' });
      const newline = buffered.indexOf('\n');
      if (newline < 0) return;
      void answer(buffered.slice(0, newline), handler).then((response) => reply(socket, response));
    });
    socket.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve());
  });
  await chmod(path, 0o600);
  return {
    close: () => new Promise<void>((resolve) => server.close(() => void rm(path, { force: true }).then(() => resolve()))),
  };
}

async function answer(line: string, handler: ControlHandler): Promise<ControlResponse> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { ok: false, error: 'malformed JSON' };
  }
  const request = ControlRequest.safeParse(parsed);
  if (!request.success) return { ok: false, error: `bad request: ${request.error.issues.map((i) => `${i.path.join('.') || 'request'}: ${i.message}`).join('; ')}` };
  try {
    return await handler(request.data);
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function reply(socket: net.Socket, response: ControlResponse): void {
  socket.end(JSON.stringify(response) + '\n');
}

/** Sends one request to the `shoal up` owning `dataDir`. */
export function sendControl(dataDir: string, request: ControlRequest, timeoutMs = 30_000): Promise<ControlResponse> {
  const path = controlSocketPath(dataDir);
  return new Promise((resolve, reject) => {
    const socket = net.connect(path);
    let text = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer from shoal up within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(JSON.stringify(request) + '\n'));
    socket.on('data', (chunk: string) => (text += chunk));
    socket.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(text) as ControlResponse);
      } catch {
        reject(new Error('shoal up answered something that is not JSON'));
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new Error(`no running shoal up for ${dataDir} (start one with: shoal up --data-dir ${dataDir})`) : err);
    });
  });
}
