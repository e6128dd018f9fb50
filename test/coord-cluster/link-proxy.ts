// One directed peer link i→j as a loopback TCP forwarder: member i dials j through it
// (`shoal coord --peer-dial j=127.0.0.1:<port>`). cut() drops the link (open connections are
// destroyed, new ones closed at once) until heal(): with one proxy per ordered pair, cutting
// every link of a member isolates it, cutting one direction makes an asymmetric partition.
import net from 'node:net';
import { LOOPBACK } from '../support/ports.js';

export class LinkProxy {
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server | undefined;
  private cutFlag = false;
  port = 0;

  constructor(private readonly targetPort: number) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.cutFlag) return void client.destroy();
      const upstream = net.connect({ host: LOOPBACK, port: this.targetPort });
      this.sockets.add(client).add(upstream);
      client.pipe(upstream);
      upstream.pipe(client);
      const close = (): void => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      client.on('close', close).on('error', close);
      upstream.on('close', close).on('error', close);
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(0, LOOPBACK, () => resolve());
    });
    const address = this.server.address();
    if (address === null || typeof address === 'string') throw new Error('link proxy has no TCP address');
    this.port = address.port;
  }

  cut(): void {
    this.cutFlag = true;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
  }

  heal(): void {
    this.cutFlag = false;
  }

  async stop(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
