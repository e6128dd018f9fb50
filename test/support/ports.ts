// Free loopback ports for throw-away servers. A port is found by binding port 0 and reading what
// the kernel chose; all probes of one call stay bound until every port is known, so one call never
// hands out the same port twice. Another process can still take a port between the probe and the
// server's own bind: callers that start servers retry with fresh ports when the bind fails.
import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

export async function freePorts(count: number): Promise<number[]> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`freePorts: count must be a positive integer, got ${count}`);
  const probes: net.Server[] = [];
  try {
    const ports: number[] = [];
    for (let i = 0; i < count; i++) {
      const probe = net.createServer();
      probes.push(probe);
      ports.push(await listenOnZero(probe));
    }
    return ports;
  } finally {
    await Promise.all(probes.map((p) => new Promise<void>((resolve) => p.close(() => resolve()))));
  }
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

function listenOnZero(server: net.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, LOOPBACK, () => {
      const address = server.address();
      if (address === null || typeof address === 'string') {
        reject(new Error('freePorts: server.address() gave no TCP port'));
        return;
      }
      resolve(address.port);
    });
  });
}

/** Resolves once a TCP connection to host:port succeeds; rejects when `deadline` (epoch ms) passes or `signal` aborts. */
export async function waitForTcp(port: number, deadline: number, signal?: AbortSignal): Promise<void> {
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    if (await canConnect(port)) return;
    signal?.throwIfAborted();
    if (Date.now() + delay > deadline) throw new Error(`nothing accepted connections on ${LOOPBACK}:${port} before the deadline`);
    // Polling is the only way to learn that another process has bound a port; the delay is a poll
    // interval, bounded by the deadline above, not a wait for an event we could await.
    await new Promise<void>((resolve) => {
      const onAbort = (): void => { clearTimeout(timer); resolve(); };
      const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve(); }, delay);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: LOOPBACK, port });
    socket.setTimeout(1000);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('timeout', () => { socket.destroy(); resolve(false); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}
