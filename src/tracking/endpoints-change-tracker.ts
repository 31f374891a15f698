// Tracks EndpointSlice changes between syncs and applies them to the EndpointsMap
// (upstream pkg/proxy/endpointschangetracker.go). Pure: the clock is passed in.
import type { Logger } from '../log/logger.ts';
import { type Endpoint, endpointsEqual } from '../model/endpoint.ts';
import { ANNOTATION_LAST_CHANGE_TRIGGER_TIME, type EndpointSlice } from '../model/k8s.ts';
import type { IPFamily } from '../util/ip.ts';
import { EndpointSliceCache, type EndpointsByPort, endpointSliceKeys } from './endpoint-slice-cache.ts';

export interface EndpointsChanges {
  readonly changes: Map<string, { previous: EndpointsByPort; current: EndpointsByPort }>;
  /** Trigger times from the last-change-trigger-time annotation, by service, for network programming latency. */
  readonly lastChangeTriggerTimes: Map<string, Date[]>;
}

export class EndpointsChangeTracker {
  readonly #cache: EndpointSliceCache;
  readonly #logger: Logger;
  readonly #startTime: Date;
  #triggerTimes = new Map<string, Date[]>();
  #pendingServices = new Set<string>();

  constructor(hostname: string, family: IPFamily, logger: Logger, startTime: Date) {
    this.#cache = new EndpointSliceCache(hostname, family, logger);
    this.#logger = logger;
    this.#startTime = startTime;
  }

  /** Records an added, updated or removed slice. Returns whether it changed anything. */
  endpointSliceUpdate(slice: EndpointSlice, remove: boolean): boolean {
    if (!this.#cache.accepts(slice)) return false;
    const keys = endpointSliceKeys(slice);
    if (typeof keys === 'string') {
      this.#logger.error('Ignoring invalid EndpointSlice', {
        slice: `${slice.metadata?.namespace ?? 'default'}/${String(slice.metadata?.name)}`,
        reason: keys,
      });
      return false;
    }
    const changed = this.#cache.update(keys, slice, remove);
    if (changed) {
      this.#pendingServices.add(keys.serviceKey);
      const raw = slice.metadata?.annotations?.[ANNOTATION_LAST_CHANGE_TRIGGER_TIME];
      const t = raw === undefined ? undefined : new Date(raw);
      // A deleted slice's annotation is the time of its last update, not of this change: upstream
      // drops the service's collected times then. Times not after this tracker started belong to
      // changes made before we were watching.
      if (remove) this.#triggerTimes.delete(keys.serviceKey);
      else if (t !== undefined && !Number.isNaN(t.getTime()) && t > this.#startTime) {
        const list = this.#triggerTimes.get(keys.serviceKey) ?? [];
        list.push(t);
        this.#triggerTimes.set(keys.serviceKey, list);
      }
    }
    return changed;
  }

  get pendingCount(): number {
    return this.#pendingServices.size;
  }

  checkout(): EndpointsChanges {
    const lastChangeTriggerTimes = this.#triggerTimes;
    this.#triggerTimes = new Map();
    this.#pendingServices = new Set();
    return { changes: this.#cache.checkout(), lastChangeTriggerTimes };
  }
}

export interface EndpointsUpdateResult {
  /** Services ("ns/name") whose endpoints changed. */
  readonly updatedServices: Set<string>;
  /** Whether a changed service has a UDP port: stale UDP conntrack entries may need deleting. */
  readonly conntrackCleanupRequired: boolean;
  readonly lastChangeTriggerTimes: Map<string, Date[]>;
}

/** The applied endpoints of every ServicePort, by ServicePort key. */
export class EndpointsMap {
  readonly #byPort = new Map<string, Endpoint[]>();

  apply(checked: EndpointsChanges): EndpointsUpdateResult {
    const updatedServices = new Set<string>();
    let conntrackCleanupRequired = false;
    for (const [svcKey, { previous, current }] of checked.changes) {
      let same = previous.size === current.size;
      for (const [k, eps] of previous) {
        if (!same) break;
        const cur = current.get(k);
        same = cur !== undefined && endpointsEqual(eps, cur);
      }
      for (const k of previous.keys()) this.#byPort.delete(k);
      for (const [k, eps] of current) this.#byPort.set(k, eps);
      if (same) continue;
      updatedServices.add(svcKey);
      for (const k of [...previous.keys(), ...current.keys()])
        if (k.endsWith('/UDP')) conntrackCleanupRequired = true;
    }
    return {
      updatedServices,
      conntrackCleanupRequired,
      lastChangeTriggerTimes: checked.lastChangeTriggerTimes,
    };
  }

  get(servicePortKey: string): readonly Endpoint[] {
    return this.#byPort.get(servicePortKey) ?? [];
  }

  /** Distinct local ready endpoint IPs per service ("ns/name"), for health check node ports. */
  localReadyEndpoints(): Map<string, number> {
    const ips = new Map<string, Set<string>>();
    for (const [spKey, eps] of this.#byPort) {
      // "ns/name:port/PROTOCOL" or "ns/name/PROTOCOL" -> "ns/name"
      const [ns = '', nameAndPort = ''] = spKey.split('/');
      const nn = `${ns}/${nameAndPort.split(':')[0]}`;
      for (const ep of eps) {
        if (!ep.isLocal || !ep.ready || ep.terminating) continue;
        const set = ips.get(nn) ?? new Set<string>();
        set.add(ep.ip);
        ips.set(nn, set);
      }
    }
    return new Map([...ips].map(([k, v]) => [k, v.size]));
  }
}
