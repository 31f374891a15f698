// Per-service cache of EndpointSlices, with applied and pending slices, merged into one endpoint
// list per ServicePort (upstream pkg/proxy/endpointslicecache.go). Pure: no I/O.
import type { Logger } from '../log/logger.ts';
import type { Endpoint } from '../model/endpoint.ts';
import { type EndpointSlice, LABEL_SERVICE_NAME } from '../model/k8s.ts';
import { isDNSLabel, isDNSSubdomain, isPortNumber, parseProtocol } from '../model/names.ts';
import { serviceKeyOf, servicePortKey } from '../model/service-port.ts';
import { type IPFamily, joinHostPort, parseIP } from '../util/ip.ts';

/** What kube-proxy keeps of one endpoint of a slice. */
interface SliceEndpointInfo {
  readonly ip: string;
  readonly nodeName: string | undefined;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly zoneHints: readonly string[];
  readonly nodeHints: readonly string[];
}

interface SlicePortInfo {
  readonly name: string;
  readonly protocol: 'TCP' | 'UDP' | 'SCTP';
  readonly port: number;
}

/** What kube-proxy keeps of one EndpointSlice; `remove` marks a pending deletion. */
export interface SliceInfo {
  readonly ports: readonly SlicePortInfo[];
  readonly endpoints: readonly SliceEndpointInfo[];
  readonly remove: boolean;
}

/** Endpoints by ServicePort key ("ns/name:port/PROTOCOL"), each list sorted by "ip:port". */
export type EndpointsByPort = Map<string, Endpoint[]>;

export interface SliceKeys {
  readonly serviceKey: string;
  readonly sliceName: string;
}

/** The cache keys of a slice, or a reason why the slice cannot be used. */
export function endpointSliceKeys(slice: EndpointSlice): SliceKeys | string {
  const ns = slice.metadata?.namespace ?? 'default';
  const name = slice.metadata?.name;
  const svc = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
  if (!isDNSLabel(ns)) return `invalid namespace ${JSON.stringify(ns)}`;
  if (!isDNSSubdomain(name)) return `invalid name ${JSON.stringify(name)}`;
  if (svc === undefined || svc === '') return `no ${LABEL_SERVICE_NAME} label`;
  if (!isDNSLabel(svc)) return `invalid ${LABEL_SERVICE_NAME} label ${JSON.stringify(svc)}`;
  return { serviceKey: serviceKeyOf(ns, svc), sliceName: name };
}

/** Shared by the (many) endpoints without topology hints, to keep two empty Sets per endpoint off the heap. */
const NO_HINTS: ReadonlySet<string> = new Set<string>();

export class EndpointSliceCache {
  readonly #hostname: string;
  readonly #family: IPFamily;
  readonly #logger: Logger;
  readonly #trackers = new Map<
    string,
    { applied: Map<string, SliceInfo>; pending: Map<string, SliceInfo> }
  >();

  constructor(hostname: string, family: IPFamily, logger: Logger) {
    this.#hostname = hostname;
    this.#family = family;
    this.#logger = logger;
  }

  /** The family's address type; slices of another type (or FQDN) are not this cache's. */
  accepts(slice: EndpointSlice): boolean {
    return slice.addressType === this.#family;
  }

  /** Records a slice as pending. Returns whether it changes what is applied or pending. */
  update(keys: SliceKeys, slice: EndpointSlice, remove: boolean): boolean {
    const info = this.#sliceInfo(keys, slice, remove);
    let tracker = this.#trackers.get(keys.serviceKey);
    if (!tracker) {
      tracker = { applied: new Map(), pending: new Map() };
      this.#trackers.set(keys.serviceKey, tracker);
    }
    const known = tracker.pending.get(keys.sliceName) ?? tracker.applied.get(keys.sliceName);
    const changed = known ? JSON.stringify(known) !== JSON.stringify(info) : !remove;
    if (changed) tracker.pending.set(keys.sliceName, info);
    return changed;
  }

  /** Moves pending slices to applied, returning the merged endpoints before and after, per service. */
  checkout(): Map<string, { previous: EndpointsByPort; current: EndpointsByPort }> {
    const out = new Map<string, { previous: EndpointsByPort; current: EndpointsByPort }>();
    for (const [serviceKey, tracker] of this.#trackers) {
      if (tracker.pending.size === 0) continue;
      const previous = this.#merge(serviceKey, tracker.applied);
      for (const [name, info] of tracker.pending) {
        if (info.remove) tracker.applied.delete(name);
        else tracker.applied.set(name, info);
      }
      tracker.pending.clear();
      const current = this.#merge(serviceKey, tracker.applied);
      if (tracker.applied.size === 0) this.#trackers.delete(serviceKey);
      out.set(serviceKey, { previous, current });
    }
    return out;
  }

  #sliceInfo(keys: SliceKeys, slice: EndpointSlice, remove: boolean): SliceInfo {
    if (remove) return { ports: [], endpoints: [], remove };
    const where = `EndpointSlice ${keys.serviceKey.split('/')[0]}/${keys.sliceName}`;
    const ports: SlicePortInfo[] = [];
    for (const p of slice.ports ?? []) {
      // Upstream ignores ports without a name (the API always sets one, "" for unnamed) or number.
      if (p.name === undefined || p.name === null) {
        this.#logger.warn('Ignoring port with nil name', { slice: where });
        continue;
      }
      if (p.port === undefined || p.port === null || p.port === 0) {
        this.#logger.warn('Ignoring invalid endpoint port', { slice: where, port: p.name });
        continue;
      }
      const protocol = parseProtocol(p.protocol);
      if ((p.name !== '' && !isDNSLabel(p.name)) || !isPortNumber(p.port) || !protocol) {
        this.#logger.error('Ignoring invalid endpoint port', { slice: where, port: JSON.stringify(p) });
        continue;
      }
      ports.push({ name: p.name, protocol, port: p.port });
    }
    ports.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.protocol < b.protocol ? -1 : 1));
    const endpoints: SliceEndpointInfo[] = [];
    for (const ep of slice.endpoints ?? []) {
      const first = ep.addresses?.[0];
      if (first === undefined) {
        this.#logger.warn('Ignoring invalid endpoint with empty addresses', { slice: where });
        continue;
      }
      const ip = parseIP(first);
      if (!ip) {
        this.#logger.error('Ignoring endpoint with invalid address', { slice: where, address: first });
        continue;
      }
      if (ip.family !== this.#family) continue;
      const c = ep.conditions ?? {};
      const names = (hints: { name?: string }[] | undefined) =>
        (hints ?? [])
          .map((h) => h.name)
          .filter((n): n is string => typeof n === 'string' && n !== '')
          .sort();
      endpoints.push({
        ip: ip.text,
        nodeName: typeof ep.nodeName === 'string' ? ep.nodeName : undefined,
        ready: c.ready === undefined || c.ready === null || c.ready === true,
        serving: c.serving === undefined || c.serving === null || c.serving === true,
        terminating: c.terminating === true,
        zoneHints: names(ep.hints?.forZones),
        nodeHints: names(ep.hints?.forNodes),
      });
    }
    endpoints.sort((a, b) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : 0));
    return { ports, endpoints, remove };
  }

  #merge(serviceKey: string, slices: ReadonlyMap<string, SliceInfo>): EndpointsByPort {
    const bySP = new Map<string, Map<string, Endpoint>>();
    const [namespace = '', name = ''] = serviceKey.split('/');
    // Slices are merged in name order so that the result does not depend on arrival order.
    for (const sliceName of [...slices.keys()].sort()) {
      const info = slices.get(sliceName)!;
      for (const port of info.ports) {
        const spKey = servicePortKey({ namespace, name, port: port.name, protocol: port.protocol });
        let set = bySP.get(spKey);
        if (!set) {
          set = new Map();
          bySP.set(spKey, set);
        }
        for (const ep of info.endpoints) {
          const endpoint: Endpoint = {
            ip: ep.ip,
            port: port.port,
            key: joinHostPort(ep.ip, port.port),
            isLocal: this.#hostname !== '' && ep.nodeName === this.#hostname,
            ready: ep.ready,
            serving: ep.serving,
            terminating: ep.terminating,
            zoneHints: ep.zoneHints.length ? new Set(ep.zoneHints) : NO_HINTS,
            nodeHints: ep.nodeHints.length ? new Set(ep.nodeHints) : NO_HINTS,
          };
          const existing = set.get(endpoint.key);
          // The same ip:port in two slices (an endpoint moving between slices): prefer the non-terminating one.
          if (!existing || (existing.terminating && !endpoint.terminating)) set.set(endpoint.key, endpoint);
        }
      }
    }
    const out: EndpointsByPort = new Map();
    for (const [spKey, set] of bySP) {
      if (set.size === 0) continue;
      out.set(
        spKey,
        [...set.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)),
      );
    }
    return out;
  }
}
