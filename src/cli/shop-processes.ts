// The shop's processes inside `shoal up`: starts every service's instances and the gateway under
// the supervisor, and answers the control socket (scale a service, kill an instance, list).
import type { ControlRequest, ControlResponse } from './control.js';
import { SHOP_SERVICES, gatewayChild, instanceName, serviceChild, type ServiceSpec, type TopologyContext } from './shop-topology.js';
import type { Supervisor } from './supervisor.js';

/** How long one instance may take from spawn to its ready line before `shoal up` gives up on it. */
const READY_BOUND_MS = 60_000;

export class ShopProcesses {
  constructor(
    private readonly supervisor: Supervisor,
    private readonly ctx: TopologyContext,
    private readonly say: (line: string) => void,
  ) {}

  async startAll(): Promise<void> {
    await Promise.all(SHOP_SERVICES.map((spec) => this.scale(spec, spec.instances)));
    await this.ready('gateway', this.supervisor.start(gatewayChild(this.ctx)));
  }

  async handle(request: ControlRequest): Promise<ControlResponse> {
    switch (request.op) {
      case 'list':
        return { ok: true, message: 'children', children: this.children() };
      case 'scale': {
        const spec = SHOP_SERVICES.find((s) => s.service === request.service);
        if (spec === undefined) return { ok: false, error: `unknown service ${request.service} (known: ${SHOP_SERVICES.map((s) => s.service).join(', ')})` };
        const before = this.running(spec).length;
        await this.scale(spec, request.count);
        return { ok: true, message: `${spec.service}: ${before} → ${request.count} instances`, children: this.children() };
      }
      case 'kill': {
        const name = request.pid !== undefined ? this.nameOfPid(request.pid) : this.supervisor.names().includes(request.target) ? request.target : undefined;
        if (name === undefined) return { ok: false, error: `no instance ${request.target} under this shoal up` };
        const pid = this.supervisor.signal(name, 'SIGKILL');
        return { ok: true, message: `killed ${name} (pid ${pid}); the supervisor restarts it` };
      }
    }
  }

  private async scale(spec: ServiceSpec, count: number): Promise<void> {
    const running = this.running(spec);
    const starts: Promise<void>[] = [];
    for (let n = 1; running.length + starts.length < count; n++) {
      const name = instanceName(spec.service, n);
      if (running.includes(name)) continue;
      starts.push(this.ready(name, this.supervisor.start(serviceChild(spec, n, this.ctx))));
    }
    // Scale down from the highest-numbered instance; each drains on SIGTERM before it exits.
    const surplus = running.sort(byNumber).slice(count);
    await Promise.all([...starts, ...surplus.map((name) => this.supervisor.stopChild(name))]);
  }

  private running(spec: ServiceSpec): string[] {
    return this.supervisor.names().filter((n) => n.startsWith(`${spec.service}-`));
  }

  private children(): { name: string; pid: number | null }[] {
    const pids = this.supervisor.pids();
    return this.supervisor.names().map((name) => ({ name, pid: pids.get(name) ?? null }));
  }

  private nameOfPid(pid: number): string | undefined {
    for (const [name, p] of this.supervisor.pids()) if (p === pid) return name;
    return undefined;
  }

  private async ready(name: string, started: Promise<void>): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${name} did not become ready within ${READY_BOUND_MS / 1000} s (see its log in ${this.ctx.logDir})`)), READY_BOUND_MS);
    });
    try {
      await Promise.race([started, bound]);
      this.say(`${name} ready (pid ${this.supervisor.pids().get(name) ?? '-'})`);
    } finally {
      clearTimeout(timer);
    }
  }
}

function byNumber(a: string, b: string): number {
  return Number(a.slice(a.lastIndexOf('-') + 1)) - Number(b.slice(b.lastIndexOf('-') + 1));
}
