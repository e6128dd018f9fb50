// Free loopback ports for throw-away servers.
//
// Ports come from below the kernel's ephemeral range (32768-60999 on Linux): a port the kernel
// picked for us by binding port 0 is also a candidate for the source port of any outgoing
// connection, so a port probed now and bound later by a child process could be taken meanwhile by
// some client socket (CI saw exactly that: EADDRINUSE on a member started seconds after its port
// was chosen). Below that range only explicit binds compete, so each test worker gets its own
// slice (by VITEST_POOL_ID, or by pid outside vitest) and walks it without reuse; every candidate
// is still probed by binding it, so a port some other program holds is skipped.
import net from 'node:net';

export const LOOPBACK = '127.0.0.1';

const RANGE_START = 15_000;
const RANGE_END = 32_000; // exclusive; below the default ip_local_port_range start of 32768
const SLICES = 16;
const SLICE_SIZE = Math.floor((RANGE_END - RANGE_START) / SLICES);

function sliceIndex(): number {
  const poolId = Number(process.env.VITEST_POOL_ID);
  if (Number.isInteger(poolId) && poolId >= 1) return (poolId - 1) % SLICES;
  return process.pid % SLICES;
}

const sliceStart = RANGE_START + sliceIndex() * SLICE_SIZE;
// Start at a pid-dependent offset so reruns in quick succession do not hit TIME_WAIT leftovers.
let cursor = process.pid % SLICE_SIZE;

export async function freePorts(count: number): Promise<number[]> {
  if (!Number.isInteger(count) || count < 1) throw new Error(`freePorts: count must be a positive integer, got ${count}`);
  const ports: number[] = [];
  for (let tried = 0; ports.length < count; tried++) {
    if (tried >= SLICE_SIZE) throw new Error(`freePorts: no free port in ${sliceStart}-${sliceStart + SLICE_SIZE - 1}`);
    const port = sliceStart + (cursor++ % SLICE_SIZE);
    if (await canBind(port)) ports.push(port);
  }
  return ports;
}

/** `size` consecutive free ports (e.g. for `shoal up --port P`, which also uses P+10..P+15); returns the first. */
export async function freePortBlock(size: number): Promise<number> {
  if (!Number.isInteger(size) || size < 1 || size > SLICE_SIZE / 4) throw new Error(`freePortBlock: bad size ${size}`);
  for (let tried = 0; tried < SLICE_SIZE; tried += size) {
    const offset = cursor % SLICE_SIZE;
    if (offset + size > SLICE_SIZE) {
      cursor += SLICE_SIZE - offset; // wrap to the slice start rather than straddle its end
      continue;
    }
    cursor += size;
    const base = sliceStart + offset;
    const ports = Array.from({ length: size }, (_, i) => base + i);
    if ((await Promise.all(ports.map(canBind))).every(Boolean)) return base;
  }
  throw new Error(`freePortBlock: no ${size} consecutive free ports in ${sliceStart}-${sliceStart + SLICE_SIZE - 1}`);
}

export async function freePort(): Promise<number> {
  const [port] = await freePorts(1);
  return port!;
}

function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, LOOPBACK, () => probe.close(() => resolve(true)));
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
