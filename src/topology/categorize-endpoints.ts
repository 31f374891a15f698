// Endpoint selection shared by every backend (upstream pkg/proxy/topology.go CategorizeEndpoints).
import type { Endpoint } from '../model/endpoint.ts';
import { type ServicePort, usesClusterEndpoints, usesLocalEndpoints } from '../model/service-port.ts';

export interface CategorizedEndpoints {
  /** Endpoints for traffic that may go anywhere in the cluster; empty if the port uses none. */
  readonly clusterEndpoints: readonly Endpoint[];
  /** Endpoints on this node for Local-policy traffic; empty if the port uses none. */
  readonly localEndpoints: readonly Endpoint[];
  /** Every endpoint some traffic to this port may reach. */
  readonly allReachableEndpoints: readonly Endpoint[];
  /** Whether any usable endpoint exists anywhere; false means REJECT rather than DROP. */
  readonly hasAnyEndpoints: boolean;
}

export type TopologyMode = '' | 'PreferSameNode' | 'PreferSameZone';

export interface TopologyOptions {
  /** The PreferSameTrafficDistribution feature gate (GA in 1.35, on by default). */
  readonly preferSameTrafficDistribution: boolean;
}

const DEFAULT_TOPOLOGY_OPTIONS: TopologyOptions = { preferSameTrafficDistribution: true };

export function topologyModeFromHints(
  endpoints: readonly Endpoint[],
  nodeName: string,
  zone: string,
  options: TopologyOptions = DEFAULT_TOPOLOGY_OPTIONS,
): TopologyMode {
  let hasEndpointForNode = false;
  let allHaveNodeHints = true;
  let hasEndpointForZone = false;
  let allHaveZoneHints = true;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    if (ep.nodeHints.size === 0) allHaveNodeHints = false;
    else if (ep.nodeHints.has(nodeName)) hasEndpointForNode = true;
    if (ep.zoneHints.size === 0) allHaveZoneHints = false;
    else if (ep.zoneHints.has(zone)) hasEndpointForZone = true;
  }
  if (options.preferSameTrafficDistribution && allHaveNodeHints && hasEndpointForNode)
    return 'PreferSameNode';
  if (allHaveZoneHints && hasEndpointForZone) return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: Endpoint, mode: TopologyMode, nodeName: string, zone: string): boolean {
  if (mode === 'PreferSameNode') return ep.nodeHints.has(nodeName);
  if (mode === 'PreferSameZone') return ep.zoneHints.has(zone);
  return true;
}

export function categorizeEndpoints(
  endpoints: readonly Endpoint[],
  sp: ServicePort,
  nodeName: string,
  zone: string,
  options: TopologyOptions = DEFAULT_TOPOLOGY_OPTIONS,
): CategorizedEndpoints {
  let clusterEndpoints: Endpoint[] = [];
  let localEndpoints: Endpoint[] = [];
  let hasAnyEndpoints = false;

  if (usesClusterEndpoints(sp)) {
    const mode = topologyModeFromHints(endpoints, nodeName, zone, options);
    clusterEndpoints = endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, nodeName, zone));
    // No ready endpoint anywhere (topology already falls back when its subset is empty): use the
    // terminating endpoints that still serve, so connections drain instead of failing.
    if (clusterEndpoints.length === 0)
      clusterEndpoints = endpoints.filter((ep) => ep.serving && ep.terminating);
    if (clusterEndpoints.length > 0) hasAnyEndpoints = true;
  }

  if (!usesLocalEndpoints(sp)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: clusterEndpoints, hasAnyEndpoints };
  }

  let hasLocalReady = false;
  let hasLocalServingTerminating = false;
  for (const ep of endpoints) {
    if (ep.ready) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalReady = true;
    } else if (ep.serving && ep.terminating) {
      hasAnyEndpoints = true;
      if (ep.isLocal) hasLocalServingTerminating = true;
    }
  }
  if (hasLocalReady) localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.ready);
  else if (hasLocalServingTerminating) {
    localEndpoints = endpoints.filter((ep) => ep.isLocal && ep.serving && ep.terminating);
  }

  if (!usesClusterEndpoints(sp)) {
    return { clusterEndpoints, localEndpoints, allReachableEndpoints: localEndpoints, hasAnyEndpoints };
  }
  const union = new Map<string, Endpoint>();
  for (const ep of clusterEndpoints) union.set(ep.key, ep);
  for (const ep of localEndpoints) union.set(ep.key, ep);
  const allReachableEndpoints = [...union.values()].sort((a, b) =>
    a.key < b.key ? -1 : a.key > b.key ? 1 : 0,
  );
  return { clusterEndpoints, localEndpoints, allReachableEndpoints, hasAnyEndpoints };
}
