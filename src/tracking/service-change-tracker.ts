// Accumulates Service changes between syncs as {previous, current} per service, dropping changes
// that cancel out, as upstream's ServiceChangeTracker does. Pure: no I/O, no timers.
import { KubeProxyError } from '../errors.ts';
import type { Logger } from '../log/logger.ts';
import type { Service } from '../model/k8s.ts';
import { type ServicePort, serviceKeyOf, servicePortsFromService } from '../model/service-port.ts';
import type { IPFamily } from '../util/ip.ts';

export interface ServiceChange {
  readonly previous: readonly ServicePort[];
  readonly current: readonly ServicePort[];
}

function samePorts(a: readonly ServicePort[], b: readonly ServicePort[]): boolean {
  return a.length === b.length && JSON.stringify(a) === JSON.stringify(b);
}

export class ServiceChangeTracker {
  readonly #family: IPFamily;
  readonly #logger: Logger;
  /** Pending changes by service ("ns/name"). */
  #items = new Map<string, ServiceChange>();
  /** The newest accepted ports of every known service: an invalid update keeps these. */
  #lastGood = new Map<string, readonly ServicePort[]>();

  constructor(family: IPFamily, logger: Logger) {
    this.#family = family;
    this.#logger = logger;
  }

  /** Records a change; `undefined` for the missing side of an add or a delete. Returns whether changes are pending. */
  update(previous: Service | undefined, current: Service | undefined): boolean {
    const obj = current ?? previous;
    if (!obj) return this.#items.size > 0;
    const key = serviceKeyOf(obj.metadata?.namespace ?? 'default', obj.metadata?.name ?? '');
    let currentPorts: readonly ServicePort[] = [];
    if (current) {
      try {
        const result = servicePortsFromService(current, this.#family);
        currentPorts = result.ports;
        for (const w of result.warnings)
          this.#logger.warn('Ignoring invalid value in Service', { service: key, reason: w });
      } catch (err) {
        if (!(err instanceof KubeProxyError)) throw err;
        this.#logger.error('Ignoring invalid Service; keeping its last good state', { service: key, err });
        return this.#items.size > 0;
      }
    }
    const pending = this.#items.get(key);
    const before = pending ? pending.previous : (this.#lastGood.get(key) ?? []);
    if (current) this.#lastGood.set(key, currentPorts);
    else this.#lastGood.delete(key);
    if (samePorts(before, currentPorts)) this.#items.delete(key);
    else {
      this.#items.set(key, { previous: before, current: currentPorts });
      this.#logger.v(4, 'Service updated ports', { service: key, portCount: currentPorts.length });
    }
    return this.#items.size > 0;
  }

  get pendingCount(): number {
    return this.#items.size;
  }

  /** Hands out the pending changes and forgets them. */
  checkout(): Map<string, ServiceChange> {
    const items = this.#items;
    this.#items = new Map();
    return items;
  }
}

/** The applied state: every ServicePort by key. */
export class ServicePortMap {
  readonly #ports = new Map<string, ServicePort>();
  /** Port keys by service ("ns/name"), so a sync can visit only the services that changed. */
  readonly #byService = new Map<string, Set<string>>();

  /** Applies checked-out changes and returns the services ("ns/name") whose ports changed. */
  apply(changes: ReadonlyMap<string, ServiceChange>): Set<string> {
    const updated = new Set<string>();
    for (const [svcKey, change] of changes) {
      updated.add(svcKey);
      for (const sp of change.previous) this.#ports.delete(sp.key);
      for (const sp of change.current) this.#ports.set(sp.key, sp);
      if (change.current.length > 0) this.#byService.set(svcKey, new Set(change.current.map((sp) => sp.key)));
      else this.#byService.delete(svcKey);
    }
    return updated;
  }

  get(key: string): ServicePort | undefined {
    return this.#ports.get(key);
  }

  get size(): number {
    return this.#ports.size;
  }

  /** The ports of one service ("ns/name"). */
  portsOf(svcKey: string): ServicePort[] {
    return [...(this.#byService.get(svcKey) ?? [])].map((k) => this.#ports.get(k)!);
  }

  values(): IterableIterator<ServicePort> {
    return this.#ports.values();
  }

  /** Health check node ports by service ("ns/name"). */
  healthCheckNodePorts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const sp of this.#ports.values()) {
      if (sp.healthCheckNodePort !== 0)
        out.set(serviceKeyOf(sp.name.namespace, sp.name.name), sp.healthCheckNodePort);
    }
    return out;
  }
}
