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
  /** How many families hold each pending key: the union's size without recomputing it per event. */
  readonly #serviceRefs = new Map<string, number>();
  readonly #endpointRefs = new Map<string, number>();

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
    for (const f of this.#families) add(this.#services.get(f)!, this.#serviceRefs, key);
    this.#update();
  }

  endpointSlice(slice: EndpointSlice): void {
    const svc = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (svc === undefined) return;
    const family: IPFamily | undefined =
      slice.addressType === 'IPv4' ? 'IPv4' : slice.addressType === 'IPv6' ? 'IPv6' : undefined;
    if (family === undefined || !this.#families.includes(family)) return;
    this.#metrics.endpointChangesTotal.inc();
    add(this.#endpoints.get(family)!, this.#endpointRefs, `${slice.metadata?.namespace ?? ''}/${svc}`);
    this.#update();
  }

  /** A family's proxier checked its changes out (a sync ran, successfully or not). */
  syncAttempted(family: IPFamily): void {
    clear(this.#services.get(family), this.#serviceRefs);
    clear(this.#endpoints.get(family), this.#endpointRefs);
    this.#update();
  }

  #update(): void {
    this.#metrics.serviceChangesPending.set(this.#serviceRefs.size);
    this.#metrics.endpointChangesPending.set(this.#endpointRefs.size);
  }
}

function add(set: Set<string>, refs: Map<string, number>, key: string): void {
  if (set.has(key)) return;
  set.add(key);
  refs.set(key, (refs.get(key) ?? 0) + 1);
}

function clear(set: Set<string> | undefined, refs: Map<string, number>): void {
  for (const key of set ?? []) {
    const n = (refs.get(key) ?? 1) - 1;
    if (n === 0) refs.delete(key);
    else refs.set(key, n);
  }
  set?.clear();
}
