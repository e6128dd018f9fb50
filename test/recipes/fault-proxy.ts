// A loopback TCP proxy in front of a coordinator that can lose replies. loseReplies() makes every
// connection open at that moment one-way: requests still reach the server, nothing it sends comes
// back ("applied, but the client never heard"), the case a retry must not repeat blindly.
// Connections opened afterwards work normally, so a client that reconnects and retries is served.
import net from 'node:net';
import { LOOPBACK } from '../support/ports.js';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  swallow: boolean;
}

export class FaultProxy {
  private readonly pairs = new Set<Pair>();
  private server: net.Server | undefined;
  port = 0;

  constructor(private readonly targetPort: number) {}

  get endpoint(): string {
    return `http://${LOOPBACK}:${this.port}`;
  }

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      const upstream = net.connect({ host: LOOPBACK, port: this.targetPort });
      const pair: Pair = { client, upstream, swallow: false };
      this.pairs.add(pair);
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => { if (!pair.swallow) client.write(chunk); });
      const close = (): void => { client.destroy(); upstream.destroy(); this.pairs.delete(pair); };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, LOOPBACK, () => resolve());
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
    this.port = address.port;
  }

  /** From now on, the currently open connections deliver requests but lose every reply. */
  loseReplies(): number {
    for (const pair of this.pairs) pair.swallow = true;
    return this.pairs.size;
  }

  /** Drops every proxied connection (clients reconnect). */
  resetConnections(): void {
    for (const pair of this.pairs) { pair.client.destroy(); pair.upstream.destroy(); }
    this.pairs.clear();
  }

  async stop(): Promise<void> {
    this.resetConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
