// The seeded generator: a random cluster (Services of every type, ports, traffic policies, affinity,
// external IPs, load balancer IPs and source ranges, EndpointSlices with ready/serving/terminating
// endpoints on this node and others; IPv4, IPv6 or a dual-stack mix), random changes between probe
// rounds, and the probes of each round. Pure: the same seed gives the same plan everywhere.
import { type KubeObject, NODE_NAME } from '../differential.ts';
import {
  addr,
  BACKENDS,
  type ClusterModel,
  type Conditions,
  type EndpointModel,
  externallyAccessible,
  type Family,
  type FamilyChoice,
  hasClusterIP,
  hasNodePorts,
  NODE_ZONE,
  type PortModel,
  REMOTE_NODE_NAME,
  renderCluster,
  type ServiceModel,
  type ServiceType,
  type SliceModel,
  SOURCE_RANGES,
  type SourceRangeKind,
  ZONE_ELSEWHERE,
} from './cluster.ts';
import { Prng } from './prng.ts';
import { type ProbeFlow, probesFor } from './probes.ts';

/** At most this many endpoints per Service and family: 30 samples then see every one of them. */
export const MAX_ENDPOINTS = 3;
const MAX_PORTS = 3;

export interface Round {
  /** What changed before this round (empty for the first). */
  changes: string[];
  objects: KubeObject[];
  model: ClusterModel;
  flows: ProbeFlow[];
}

export interface SeedPlan {
  seed: number;
  family: FamilyChoice;
  masqueradeAll: boolean;
  nodePortAddresses: ClusterModel['nodePortAddresses'];
  rounds: Round[];
}

export interface PlanOptions {
  /** Probe rounds, the first on the initial cluster; default 3. */
  rounds?: number;
  /** Services in the initial cluster: [min, max]; default [2, 4]. */
  services?: [number, number];
}

/** Unique values drawn from a range (ClusterIPs, NodePorts, external and LB IPs). */
class Pool {
  private readonly used = new Set<string>();
  take(draw: () => string): string {
    for (let i = 0; i < 1000; i++) {
      const v = draw();
      if (!this.used.has(v)) {
        this.used.add(v);
        return v;
      }
    }
    throw new Error('pool exhausted');
  }
  has(v: string): boolean {
    return this.used.has(v);
  }
}

/** Everything a cluster's Services share and must not collide on. */
export class Allocations {
  readonly clusterIPs = new Pool();
  readonly nodePorts = new Pool();
  readonly externalIPs = new Pool();
  readonly lbIPs = new Pool();

  clusterIP(r: Prng): string {
    return this.clusterIPs.take(() =>
      r.chance(0.2) ? `198.19.64.${r.int(2, 254)}` : `198.19.${r.int(16, 30)}.${r.int(2, 254)}`,
    );
  }
  nodePort(r: Prng): number {
    return Number(this.nodePorts.take(() => String(r.int(30000, 32767))));
  }
  externalIP(r: Prng): string {
    return this.externalIPs.take(() => `198.19.99.${r.int(1, 254)}`);
  }
  lbIP(r: Prng): string {
    return this.lbIPs.take(() => `198.19.200.${r.int(1, 254)}`);
  }
}

export function randomConditions(r: Prng): Conditions {
  switch (r.weighted({ ready: 6, terminatingServing: 2, terminating: 1, notReady: 1, unset: 0.5, odd: 1 })) {
    case 'ready':
      return { ready: true, serving: true, terminating: false };
    case 'terminatingServing':
      return { ready: false, serving: true, terminating: true };
    case 'terminating':
      return { ready: false, serving: false, terminating: true };
    case 'notReady':
      return { ready: false, serving: false, terminating: false };
    case 'unset':
      return {};
    default: {
      // Combinations no kubelet writes, but the API accepts (and "unset" fields on purpose).
      const c: Conditions = {};
      for (const k of ['ready', 'serving', 'terminating'] as const) if (!r.chance(0.25)) c[k] = r.chance(0.5);
      return c;
    }
  }
}

/** Zone and/or node hints, for this node or others (every ready endpoint hinted turns them on). */
export function randomHints(r: Prng): NonNullable<EndpointModel['hints']> {
  const h: NonNullable<EndpointModel['hints']> = {};
  const some = (xs: string[]) => r.sample(xs, r.int(1, xs.length)).sort();
  if (r.chance(0.8)) h.zones = some([NODE_ZONE, ZONE_ELSEWHERE]);
  if (!h.zones || r.chance(0.4)) h.nodes = some([NODE_NAME, REMOTE_NODE_NAME]);
  return h;
}

function targetPortFor(r: Prng, protocol: 'TCP' | 'UDP'): number {
  return protocol === 'UDP' ? 8053 : r.pick([8001, 8002]);
}

function newPort(r: Prng, s: ServiceModel, a: Allocations, named: boolean): PortModel {
  const protocol = r.chance(0.25) ? 'UDP' : 'TCP';
  let port = 0;
  for (;;) {
    port = r.chance(0.6) ? r.pick([80, 443, 53, 8080, 5000]) : r.int(1, 65535);
    if (!s.ports.some((p) => p.port === port && p.protocol === protocol)) break;
  }
  let name = '';
  if (named) {
    for (let i = 0; ; i++) {
      name = `${protocol.toLowerCase()}-${port}${i ? `-${i}` : ''}`;
      if (!s.ports.some((p) => p.name === name)) break;
    }
  }
  return { name, protocol, port, targetPort: targetPortFor(r, protocol), nodePort: a.nodePort(r) };
}

function familiesFor(r: Prng, choice: FamilyChoice): Pick<ServiceModel, 'families' | 'familyPolicy'> {
  if (choice === 'ipv4') return { families: ['IPv4'], familyPolicy: 'SingleStack' };
  if (choice === 'ipv6') return { families: ['IPv6'], familyPolicy: 'SingleStack' };
  switch (r.weighted({ v4: 1, v6: 1, dual: 2, dual6: 1 })) {
    case 'v4':
      return { families: ['IPv4'], familyPolicy: 'SingleStack' };
    case 'v6':
      return { families: ['IPv6'], familyPolicy: 'SingleStack' };
    case 'dual':
      return { families: ['IPv4', 'IPv6'], familyPolicy: r.pick(['PreferDualStack', 'RequireDualStack']) };
    default:
      return { families: ['IPv6', 'IPv4'], familyPolicy: r.pick(['PreferDualStack', 'RequireDualStack']) };
  }
}

const RANGE_KINDS = Object.keys(SOURCE_RANGES) as SourceRangeKind[];

function randomSlices(r: Prng, s: ServiceModel): SliceModel[] {
  const slices: SliceModel[] = [];
  for (const family of s.families) {
    if (r.chance(0.12)) continue; // no endpoints in this family at all
    const backends = r.sample(
      BACKENDS.map((_, i) => i),
      r.int(0, MAX_ENDPOINTS),
    );
    const hinted = r.chance(0.3);
    const endpoints: EndpointModel[] = backends.map((backend) => ({
      backend,
      conditions: randomConditions(r),
      ...(hinted && r.chance(0.85) ? { hints: randomHints(r) } : {}),
    }));
    const ports = s.ports.filter(() => !r.chance(0.08)).map((p) => p.name);
    const split = endpoints.length > 1 && r.chance(0.3) ? r.int(1, endpoints.length - 1) : endpoints.length;
    const tag = family === 'IPv4' ? '4' : '6';
    slices.push({ name: `${s.name}-${tag}a`, family, endpoints: endpoints.slice(0, split), ports });
    if (split < endpoints.length)
      slices.push({ name: `${s.name}-${tag}b`, family, endpoints: endpoints.slice(split), ports });
  }
  return slices;
}

export function randomService(r: Prng, name: string, family: FamilyChoice, a: Allocations): ServiceModel {
  const type = r.weighted<ServiceType>({
    ClusterIP: 7,
    NodePort: 5,
    LoadBalancer: 6,
    Headless: 1,
    ExternalName: 0.5,
  });
  const s: ServiceModel = {
    ns: r.pick(['ns1', 'ns2']),
    name,
    type,
    ...familiesFor(r, family),
    clusterIPs: [],
    ports: [],
    externalIPs: [],
    lbIPs: [],
    sourceRanges: [],
    eTP: r.chance(0.4) ? 'Local' : 'Cluster',
    iTP: r.chance(0.25) ? 'Local' : 'Cluster',
    healthCheckNodePort: a.nodePort(r),
    allocateLoadBalancerNodePorts: r.chance(0.7),
    slices: [],
    present: true,
  };
  if (type === 'ExternalName') return s;
  if (type !== 'Headless') s.clusterIPs = [a.clusterIP(r)];
  const nPorts = r.weighted({ 1: 6, 2: 3, 3: 1 });
  for (let i = 0; i < Number(nPorts); i++) s.ports.push(newPort(r, s, a, nPorts !== '1' || r.chance(0.5)));
  if (type !== 'Headless') {
    if (r.chance(0.3)) s.externalIPs = Array.from({ length: r.int(1, 2) }, () => a.externalIP(r));
    if (type === 'LoadBalancer') {
      s.lbIPs = Array.from({ length: r.int(0, 2) }, () => a.lbIP(r));
      if (r.chance(0.4)) s.sourceRanges = r.sample(RANGE_KINDS, r.int(1, 2));
    }
    if (r.chance(0.25)) s.affinity = r.pick([10, 300, 10800]);
  }
  s.slices = randomSlices(r, s);
  return s;
}

export function randomCluster(r: Prng, family: FamilyChoice, a: Allocations, count: number): ClusterModel {
  return {
    family,
    masqueradeAll: r.chance(0.2),
    nodePortAddresses: r.chance(0.7) ? 'node-ips' : 'default',
    services: Array.from({ length: count }, (_, i) => randomService(r, `svc-${i}`, family, a)),
  };
}

function clone<T>(v: T): T {
  return structuredClone(v);
}

function endpointsOf(s: ServiceModel, family: Family): EndpointModel[] {
  return s.slices.filter((sl) => sl.family === family).flatMap((sl) => sl.endpoints);
}

/**
 * One random change to the cluster (in place); returns what it did, e.g. "ns1/svc-0: port tcp-80
 * removed", or undefined when the picked kind does not apply (the caller draws again).
 */
export function randomChange(r: Prng, c: ClusterModel, a: Allocations): string | undefined {
  const live = c.services.filter((s) => s.present && s.type !== 'ExternalName');
  const kind = r.weighted({
    conditions: 5,
    hints: 1,
    addEndpoint: 2,
    removeEndpoint: 2,
    addPort: 1,
    removePort: 1,
    slicePorts: 1,
    eTP: 1,
    iTP: 1,
    affinity: 1,
    delete: 1,
    readd: 2,
    externalIPs: 1,
    lbIPs: 1,
    sourceRanges: 1,
    newService: 1,
  });
  if (kind === 'readd') {
    const gone = c.services.filter((s) => !s.present);
    if (!gone.length) return undefined;
    const s = r.pick(gone);
    s.present = true;
    return `${s.ns}/${s.name}: added back`;
  }
  if (kind === 'newService') {
    const s = randomService(r, `svc-${c.services.length}`, c.family, a);
    c.services.push(s);
    return `${s.ns}/${s.name}: new ${s.type}`;
  }
  if (!live.length) return undefined;
  const s = r.pick(live);
  const id = `${s.ns}/${s.name}`;
  switch (kind) {
    case 'conditions': {
      const eps = s.slices.flatMap((sl) => sl.endpoints);
      if (!eps.length) return undefined;
      const e = r.pick(eps);
      e.conditions = randomConditions(r);
      return `${id}: endpoint ${BACKENDS[e.backend]!.ip4} now ${JSON.stringify(e.conditions)}`;
    }
    case 'hints': {
      const eps = s.slices.flatMap((sl) => sl.endpoints);
      if (!eps.length) return undefined;
      const e = r.pick(eps);
      if (e.hints) delete e.hints;
      else e.hints = randomHints(r);
      return `${id}: endpoint ${BACKENDS[e.backend]!.ip4} hints ${JSON.stringify(e.hints ?? null)}`;
    }
    case 'addEndpoint': {
      const family = r.pick(s.families);
      const have = endpointsOf(s, family).map((e) => e.backend);
      const free = BACKENDS.map((_, i) => i).filter((i) => !have.includes(i));
      if (have.length >= MAX_ENDPOINTS || !free.length) return undefined;
      let sl = s.slices.find((x) => x.family === family);
      if (!sl) {
        sl = {
          name: `${s.name}-${family === 'IPv4' ? '4' : '6'}c`,
          family,
          endpoints: [],
          ports: s.ports.map((p) => p.name),
        };
        s.slices.push(sl);
      }
      const backend = r.pick(free);
      sl.endpoints.push({ backend, conditions: randomConditions(r) });
      return `${id}: endpoint ${addr(BACKENDS[backend]!.ip4, family)} added`;
    }
    case 'removeEndpoint': {
      const withEps = s.slices.filter((sl) => sl.endpoints.length);
      if (!withEps.length) return undefined;
      const sl = r.pick(withEps);
      const [e] = sl.endpoints.splice(r.int(0, sl.endpoints.length - 1), 1);
      return `${id}: endpoint ${addr(BACKENDS[e!.backend]!.ip4, sl.family)} removed`;
    }
    case 'addPort': {
      if (s.ports.length >= MAX_PORTS) return undefined;
      // A second port needs names on all of them.
      if (s.ports.length === 1 && s.ports[0]!.name === '') return undefined;
      const p = newPort(r, s, a, true);
      s.ports.push(p);
      for (const sl of s.slices) if (!r.chance(0.2)) sl.ports.push(p.name);
      return `${id}: port ${p.name} ${p.protocol}/${p.port} added`;
    }
    case 'removePort': {
      if (s.ports.length <= 1) return undefined;
      const [p] = s.ports.splice(r.int(0, s.ports.length - 1), 1);
      for (const sl of s.slices) sl.ports = sl.ports.filter((n) => n !== p!.name);
      return `${id}: port ${p!.name} removed`;
    }
    case 'slicePorts': {
      if (!s.slices.length || !s.ports.length) return undefined;
      const sl = r.pick(s.slices);
      const p = r.pick(s.ports);
      if (sl.ports.includes(p.name)) sl.ports = sl.ports.filter((n) => n !== p.name);
      else sl.ports.push(p.name);
      return `${id}: slice ${sl.name} ports now [${sl.ports.join(',')}]`;
    }
    case 'eTP':
      if (!externallyAccessible(s)) return undefined;
      s.eTP = s.eTP === 'Local' ? 'Cluster' : 'Local';
      return `${id}: externalTrafficPolicy ${s.eTP}`;
    case 'iTP':
      s.iTP = s.iTP === 'Local' ? 'Cluster' : 'Local';
      return `${id}: internalTrafficPolicy ${s.iTP}`;
    case 'affinity':
      if (s.type === 'Headless') return undefined;
      s.affinity = s.affinity === undefined ? r.pick([10, 300, 10800]) : undefined;
      return `${id}: sessionAffinity ${s.affinity === undefined ? 'None' : `ClientIP ${s.affinity}s`}`;
    case 'delete':
      s.present = false;
      return `${id}: deleted`;
    case 'externalIPs':
      if (!hasClusterIP(s)) return undefined;
      if (s.externalIPs.length && r.chance(0.5)) s.externalIPs.pop();
      else s.externalIPs.push(a.externalIP(r));
      return `${id}: externalIPs [${s.externalIPs.join(',')}]`;
    case 'lbIPs':
      if (s.type !== 'LoadBalancer') return undefined;
      if (s.lbIPs.length && r.chance(0.5)) s.lbIPs.shift();
      else s.lbIPs.push(a.lbIP(r));
      return `${id}: load balancer IPs [${s.lbIPs.join(',')}]`;
    case 'sourceRanges':
      if (s.type !== 'LoadBalancer') return undefined;
      s.sourceRanges = r.sample(RANGE_KINDS, r.int(0, 2));
      return `${id}: loadBalancerSourceRanges [${s.sourceRanges.join(',')}]`;
    default:
      return undefined;
  }
}

/** The whole plan of a seed: the initial cluster, the changes before each later round, the probes. */
export function planSeed(seed: number, family: FamilyChoice, o: PlanOptions = {}): SeedPlan {
  const r = new Prng(seed);
  const a = new Allocations();
  const [lo, hi] = o.services ?? [2, 4];
  const model = randomCluster(r.fork('cluster'), family, a, r.int(lo, hi));
  const rounds: Round[] = [];
  const changeRng = r.fork('changes');
  for (let i = 0; i < (o.rounds ?? 3); i++) {
    const changes: string[] = [];
    if (i > 0) {
      const want = changeRng.int(1, 3);
      for (let tries = 0; changes.length < want && tries < 50; tries++) {
        const what = randomChange(changeRng, model, a);
        if (what) changes.push(what);
      }
    }
    const snapshot = clone(model);
    rounds.push({
      changes,
      objects: renderCluster(snapshot),
      model: snapshot,
      flows: probesFor(r.fork(`probes-${i}`), snapshot, a, i),
    });
  }
  return {
    seed,
    family,
    masqueradeAll: model.masqueradeAll,
    nodePortAddresses: model.nodePortAddresses,
    rounds,
  };
}

export { hasNodePorts };
