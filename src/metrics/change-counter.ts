// kubeproxy_sync_proxy_rules_{service,endpoint}_changes_{total,pending}, counted from the events
// the source delivers: every event counts once; pending is the number of distinct Services with an
// event since their families last attempted a sync (upstream counts inside its change trackers and
// drops changes that cancel out, which this cannot see).

import type { EndpointSlice, Service } from '../model/k8s.ts';
import type { IPFamily } from '../util/ip.ts';
import type { ProxyMetrics } from './metrics.ts';

const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export class ChangeCounter {
  readonly #metrics: ProxyMetrics;
  readonly #families: readonly IPFamily[];
  readonly #services = new Map<IPFamily, Set<string>>();
  readonly #endpoints = new Map<IPFamily, Set<string>>();

  constructor(metrics: ProxyMetrics, families: readonly IPFamily[]) {
    this.#metrics = metrics;
    this.#families = families;
    for (const f of families) {
      this.#services.set(f, new Set());
      this.#endpoints.set(f, new Set());
    }
  }

  service(svc: Service): void {
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    this.#metrics.serviceChangesTotal.inc();
    for (const f of this.#families) this.#services.get(f)!.add(key);
    this.#update();
  }

  endpointSlice(slice: EndpointSlice): void {
    const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (svc === undefined) return;
    const family: IPFamily | undefined =
      slice.addressType === 'IPv4' ? 'IPv4' : slice.addressType === 'IPv6' ? 'IPv6' : undefined;
    if (family === undefined || !this.#families.includes(family)) return;
    this.#metrics.endpointChangesTotal.inc();
    this.#endpoints.get(family)!.add(`${slice.metadata?.namespace ?? ''}/${svc}`);
    this.#update();
  }

  /** A family's proxier checked its changes out (a sync ran, successfully or not). */
  syncAttempted(family: IPFamily): void {
    this.#services.get(family)?.clear();
    this.#endpoints.get(family)?.clear();
    this.#update();
  }

  #update(): void {
    const union = (m: Map<IPFamily, Set<string>>) => new Set([...m.values()].flatMap((s) => [...s])).size;
    this.#metrics.serviceChangesPending.set(union(this.#services));
    this.#metrics.endpointChangesPending.set(union(this.#endpoints));
  }
}
