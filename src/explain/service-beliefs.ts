// What the proxy believes about one Service (for `explain service` and /debug/explain/service):
// per port of one IP family, the endpoints its Cluster- and Local-policy traffic goes to, and for
// every endpoint left out of either, why (not ready, terminating, other zone, other node). Pure:
// computed from the ports and endpoints the proxier last synced, with the same categorisation and
// traffic-policy code the backends write their rules from.
import type { Endpoint } from '../model/endpoint.ts';
import {
  externallyAccessible,
  type ServicePort,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from '../model/service-port.ts';
import {
  categorizeEndpoints,
  type TopologyMode,
  topologyModeFromHints,
} from '../topology/categorize-endpoints.ts';
import { trafficPolicy } from '../topology/traffic-policy.ts';
import type { IPFamily } from '../util/ip.ts';

export type ExclusionReason = 'not-ready' | 'terminating' | 'other-zone' | 'other-node';

export interface Exclusion {
  /** "ip:port" ("[ip]:port" for IPv6). */
  readonly endpoint: string;
  /** Which traffic the endpoint does not get: Cluster-policy traffic, or Local-policy traffic. */
  readonly traffic: 'cluster' | 'local';
  readonly reason: ExclusionReason;
  readonly detail: string;
}

/** Where one kind of traffic (to the ClusterIP; to NodePorts, external and LB IPs) goes. */
export interface TrafficBelief {
  readonly policy: 'Cluster' | 'Local';
  /** To the endpoints of that policy, or dropped (none local), or rejected (none at all). */
  readonly verdict: 'endpoints' | 'drop' | 'reject';
}

export interface EndpointState {
  readonly endpoint: string;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  readonly local: boolean;
  readonly zoneHints: readonly string[];
  readonly nodeHints: readonly string[];
}

export interface PortBelief {
  /** "ns/name:port" (or "ns/name" for an unnamed port), as rule comments spell it. */
  readonly name: string;
  /** The port's name ("" for an unnamed port). */
  readonly portName: string;
  readonly protocol: string;
  readonly clusterIP: string;
  readonly port: number;
  readonly nodePort: number;
  readonly externalIPs: readonly string[];
  readonly loadBalancerIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
  readonly sessionAffinityTimeoutSeconds: number;
  readonly topology: TopologyMode;
  readonly internal: TrafficBelief;
  /** Absent when the port is not reachable from outside (no NodePort, external or LB IP). */
  readonly external?: TrafficBelief;
  /** Chosen for Cluster-policy traffic; empty when no traffic of the port uses that policy. */
  readonly clusterEndpoints: readonly string[];
  /** Chosen for Local-policy traffic (endpoints on this node); empty when unused. */
  readonly localEndpoints: readonly string[];
  readonly excluded: readonly Exclusion[];
  /** Every endpoint the proxy knows of for this port, as the EndpointSlices state it. */
  readonly endpoints: readonly EndpointState[];
  /** The per-port objects the backends write, by traffic-policy decision. */
  readonly chains: {
    readonly cluster: boolean;
    readonly local: boolean;
    readonly external: boolean;
    readonly firewall: boolean;
  };
}

export interface FamilyBeliefs {
  readonly family: IPFamily;
  readonly mode: string;
  readonly node: { readonly name: string; readonly zone: string };
  /** Service/EndpointSlice changes received but not synced yet: the kernel may lag behind them. */
  readonly pendingChanges: number;
  readonly ports: readonly PortBelief[];
}

export interface ServiceBeliefs {
  /** "ns/name". */
  readonly service: string;
  readonly families: readonly FamilyBeliefs[];
}

function notServing(ep: Endpoint): Exclusion['reason'] | undefined {
  if (ep.terminating) return 'terminating';
  if (!ep.ready) return 'not-ready';
  return undefined;
}

function stateDetail(ep: Endpoint, anyReady: boolean): string {
  if (ep.terminating && !ep.serving) return 'no longer serving';
  if (ep.terminating) {
    return anyReady
      ? 'still serving, but terminating endpoints are used only while no endpoint is ready'
      : 'not serving';
  }
  return 'the ready condition is false';
}

function clusterExclusion(
  ep: Endpoint,
  mode: TopologyMode,
  node: { name: string; zone: string },
  anyReady: boolean,
): Omit<Exclusion, 'endpoint' | 'traffic'> {
  const r = notServing(ep);
  if (r) return { reason: r, detail: stateDetail(ep, anyReady) };
  if (mode === 'PreferSameZone')
    return {
      reason: 'other-zone',
      detail: `topology hints for zone(s) ${[...ep.zoneHints].join(', ') || '(none)'}; this node is in zone ${JSON.stringify(node.zone)}`,
    };
  return {
    reason: 'other-node',
    detail: `topology hints for node(s) ${[...ep.nodeHints].join(', ') || '(none)'}; this node is ${node.name}`,
  };
}

function localExclusion(ep: Endpoint, anyLocalReady: boolean): Omit<Exclusion, 'endpoint' | 'traffic'> {
  if (!ep.isLocal)
    return { reason: 'other-node', detail: 'runs on another node; Local-policy traffic stays on this node' };
  const r = notServing(ep) ?? 'not-ready';
  return { reason: r, detail: stateDetail(ep, anyLocalReady) };
}

/** The beliefs about one service port, from its endpoints and this node's name and zone. */
export function describePort(
  sp: ServicePort,
  endpoints: readonly Endpoint[],
  node: { name: string; zone: string },
): PortBelief {
  const cat = categorizeEndpoints(endpoints, sp, node.name, node.zone);
  const policy = trafficPolicy(sp, cat);
  const mode = usesClusterEndpoints(sp) ? topologyModeFromHints(endpoints, node.name, node.zone) : '';
  const excluded: Exclusion[] = [];
  const anyReady = endpoints.some((ep) => ep.ready);
  if (usesClusterEndpoints(sp)) {
    const chosen = new Set(cat.clusterEndpoints.map((ep) => ep.key));
    for (const ep of endpoints)
      if (!chosen.has(ep.key))
        excluded.push({
          endpoint: ep.key,
          traffic: 'cluster',
          ...clusterExclusion(ep, mode, node, anyReady),
        });
  }
  if (usesLocalEndpoints(sp)) {
    const chosen = new Set(cat.localEndpoints.map((ep) => ep.key));
    const anyLocalReady = endpoints.some((ep) => ep.isLocal && ep.ready);
    for (const ep of endpoints)
      if (!chosen.has(ep.key))
        excluded.push({ endpoint: ep.key, traffic: 'local', ...localExclusion(ep, anyLocalReady) });
  }
  const verdict = (has: boolean): TrafficBelief['verdict'] =>
    !cat.hasAnyEndpoints ? 'reject' : has ? 'endpoints' : 'drop';
  return {
    name:
      sp.name.port === ''
        ? `${sp.name.namespace}/${sp.name.name}`
        : `${sp.name.namespace}/${sp.name.name}:${sp.name.port}`,
    portName: sp.name.port,
    protocol: sp.protocol,
    clusterIP: sp.clusterIP,
    port: sp.port,
    nodePort: sp.nodePort,
    externalIPs: sp.externalIPs,
    loadBalancerIPs: sp.loadBalancerVIPs,
    loadBalancerSourceRanges: sp.loadBalancerSourceRanges,
    sessionAffinityTimeoutSeconds: sp.sessionAffinityClientIP ? sp.stickyMaxAgeSeconds : 0,
    topology: mode,
    internal: {
      policy: sp.internalPolicyLocal ? 'Local' : 'Cluster',
      verdict: verdict(policy.hasInternalEndpoints),
    },
    ...(externallyAccessible(sp) && {
      external: {
        policy: sp.externalPolicyLocal ? 'Local' : 'Cluster',
        verdict: verdict(policy.hasExternalEndpoints),
      },
    }),
    clusterEndpoints: cat.clusterEndpoints.map((ep) => ep.key),
    localEndpoints: cat.localEndpoints.map((ep) => ep.key),
    excluded,
    endpoints: endpoints.map((ep) => ({
      endpoint: ep.key,
      ready: ep.ready,
      serving: ep.serving,
      terminating: ep.terminating,
      local: ep.isLocal,
      zoneHints: [...ep.zoneHints].sort(),
      nodeHints: [...ep.nodeHints].sort(),
    })),
    chains: {
      cluster: policy.usesClusterPolicyChain,
      local: policy.usesLocalPolicyChain,
      external: policy.usesExternalTrafficChain,
      firewall: sp.loadBalancerVIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0,
    },
  };
}
