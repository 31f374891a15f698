// What the winkernel backend remembers between syncs (upstream keeps it in serviceInfo and
// endpointInfo): the HNS IDs of each frontend's load balancer, and the references this proxier
// holds on the remote HNS endpoints it creates.
import type { Endpoint } from '../../model/endpoint.ts';
import type { ServicePort } from '../../model/service-port.ts';

/**
 * A reference this proxier holds on a remote HNS endpoint it may have created. Upstream shares one
 * counter per HNS ID; here a reference also remembers whether it counted, so that no path (a
 * retried service, a cleanup after a decrement) counts or releases it twice.
 */
export interface Reference {
  readonly isLocal: boolean;
  hnsID: string;
  /** The HNS ID this reference is counted under, when it is. */
  countedID: string | undefined;
}

/** One endpoint of one service port (upstream endpointInfo). */
export interface EndpointRecord extends Reference {
  readonly ep: Endpoint;
}

/** The overlay endpoint of a ClusterIP (upstream serviceInfo.remoteEndpoint). */
export interface RemoteRecord extends Reference {
  readonly ip: string;
}

export interface FrontendIP {
  readonly ip: string;
  hnsID: string;
}

export interface IngressIP extends FrontendIP {
  healthCheckHnsID: string;
}

/** One service port (upstream serviceInfo). */
export interface ServiceState {
  readonly sp: ServicePort;
  /** HNS takes one backend port per load balancer: the port of the last endpoint used. */
  targetPort: number;
  hnsID: string;
  nodePortHnsID: string;
  readonly externalIPs: FrontendIP[];
  readonly ingressIPs: IngressIP[];
  policyApplied: boolean;
  remoteEndpoint: RemoteRecord | undefined;
  readonly preserveDIP: boolean;
  readonly localTrafficDSR: boolean;
  readonly internalTrafficLocal: boolean;
  readonly winProxyOptimization: boolean;
}

/** What a test or an operator may read of a service port's state. */
export interface ServicePortView {
  readonly hnsID: string;
  readonly nodePortHnsID: string;
  readonly externalIPs: readonly { ip: string; hnsID: string }[];
  readonly ingressIPs: readonly { ip: string; hnsID: string; healthCheckHnsID: string }[];
  readonly policyApplied: boolean;
  readonly remoteEndpoint: { ip: string; hnsID: string } | undefined;
  readonly targetPort: number;
  readonly localTrafficDSR: boolean;
  readonly preserveDIP: boolean;
  readonly endpoints: readonly { ip: string; hnsID: string; refCount: number | undefined }[];
}

/** Fresh state for a service port (upstream newServiceInfo); DSR settings need HNS support. */
export function newServiceState(sp: ServicePort, dsrSupported: boolean): ServiceState {
  return {
    sp,
    targetPort: 0,
    hnsID: '',
    nodePortHnsID: '',
    externalIPs: sp.externalIPs.map((ip) => ({ ip, hnsID: '' })),
    ingressIPs: sp.loadBalancerVIPs.map((ip) => ({ ip, hnsID: '', healthCheckHnsID: '' })),
    policyApplied: false,
    remoteEndpoint: undefined,
    preserveDIP: dsrSupported && (sp.winkernel?.preserveDestination ?? false),
    localTrafficDSR: dsrSupported && sp.externalPolicyLocal,
    internalTrafficLocal: sp.internalPolicyLocal,
    winProxyOptimization: sp.winkernel?.proxyOptimization ?? true,
  };
}

export function newRecord(ep: Endpoint): EndpointRecord {
  return { ep, isLocal: ep.isLocal, hnsID: '', countedID: undefined };
}

/** The shared reference counts of remote HNS endpoints, by HNS ID (upstream endPointsRefCount). */
export class ReferenceCounts {
  readonly #counts = new Map<string, number>();

  get(hnsID: string): number | undefined {
    return this.#counts.get(hnsID);
  }

  /** Counts `r` under `hnsID` (releasing what it counted before). */
  count(r: Reference, hnsID: string): void {
    this.release(r);
    this.#counts.set(hnsID, (this.#counts.get(hnsID) ?? 0) + 1);
    r.countedID = hnsID;
  }

  /** Gives up a counted reference; returns the count after, or undefined if `r` did not count. */
  release(r: Reference): number | undefined {
    const id = r.countedID;
    if (id === undefined) return undefined;
    const n = Math.max(0, (this.#counts.get(id) ?? 0) - 1);
    this.#counts.set(id, n);
    r.countedID = undefined;
    return n;
  }

  forget(hnsID: string): void {
    this.#counts.delete(hnsID);
  }
}

export function viewOf(
  s: ServiceState,
  records: readonly EndpointRecord[],
  refs: ReferenceCounts,
): ServicePortView {
  return {
    hnsID: s.hnsID,
    nodePortHnsID: s.nodePortHnsID,
    externalIPs: s.externalIPs.map((e) => ({ ...e })),
    ingressIPs: s.ingressIPs.map((e) => ({ ...e })),
    policyApplied: s.policyApplied,
    remoteEndpoint: s.remoteEndpoint && { ip: s.remoteEndpoint.ip, hnsID: s.remoteEndpoint.hnsID },
    targetPort: s.targetPort,
    localTrafficDSR: s.localTrafficDSR,
    preserveDIP: s.preserveDIP,
    endpoints: records.map((r) => ({
      ip: r.ep.ip,
      hnsID: r.hnsID,
      refCount: r.countedID === undefined ? undefined : refs.get(r.countedID),
    })),
  };
}
