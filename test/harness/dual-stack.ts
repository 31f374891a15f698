// Dual-stack API objects for kernel scenarios. Every address is written once, in IPv4 (the
// re-addressed upstream value, test/README.md); the IPv6 twin comes from v6Of() (test/kernel/README.md).
// One Service carries both families (ipFamilies/clusterIPs); each family gets its own EndpointSlice.
import type { EndpointSlice, Node, Service, ServiceCIDR, ServiceSpec } from '../../src/model/k8s.ts';
import { FAMILIES, type Family, IPV4_PLAN, IPV6_PLAN, inFamily } from '../../src/sandbox/addresses.ts';
import { NODE_NAME } from './objects.ts';

export { NODE_NAME };
/** The other node: endpoints with this nodeName are remote (they run in the sandbox's remote namespace). */
export const REMOTE_NODE_NAME = 'node-b';

export const NODE = IPV4_PLAN.nodeIP;
export const NODE_ALT = IPV4_PLAN.secondaryNodeIP;
export const EXT = IPV4_PLAN.externalClientIP;
export const BLK = IPV4_PLAN.blockedClientIP;
/** The pod client (upstream 10.0.0.2). */
export const POD = '198.18.0.2';

/** The cluster objects every scenario needs: both ServiceCIDRs and this node with both addresses. */
export function clusterObjects(): object[] {
  const cidr: ServiceCIDR = {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'ServiceCIDR',
    metadata: { name: 'kubernetes' },
    spec: { cidrs: [IPV4_PLAN.serviceCIDR, IPV6_PLAN.serviceCIDR] },
  };
  const node: Node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: NODE_NAME, labels: { 'kubernetes.io/hostname': NODE_NAME } },
    status: {
      addresses: [
        { type: 'InternalIP', address: IPV4_PLAN.nodeIP },
        { type: 'InternalIP', address: IPV6_PLAN.nodeIP },
      ],
    },
  };
  return [cidr, node];
}

export interface Port {
  name?: string;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  port: number;
  /** Default: port. */
  targetPort?: number;
  nodePort?: number;
}

export interface ServiceOptions {
  namespace?: string;
  name: string;
  type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  /** IPv4; the IPv6 twin is added. */
  clusterIP: string;
  ports: Port[];
  externalIPs?: string[];
  /** LoadBalancer ingress IPs (IPv4; twins added). */
  lbIPs?: string[];
  /** Written as given: list the ranges of both families. */
  sourceRanges?: string[];
  eTP?: 'Cluster' | 'Local';
  iTP?: 'Cluster' | 'Local';
  healthCheckNodePort?: number;
  /** ClientIP session affinity with this timeout (seconds). */
  affinitySeconds?: number;
  families?: readonly Family[];
}

const both = (ips: readonly string[], families: readonly Family[]): string[] =>
  families.flatMap((f) => ips.map((ip) => inFamily(ip, f)));

export function svc(o: ServiceOptions): Service {
  const families = o.families ?? FAMILIES;
  const spec: ServiceSpec = {
    type: o.type ?? 'ClusterIP',
    clusterIP: inFamily(o.clusterIP, families[0]!),
    clusterIPs: families.map((f) => inFamily(o.clusterIP, f)),
    ipFamilies: [...families],
    ports: o.ports.map((p) => ({
      ...(p.name !== undefined && { name: p.name }),
      protocol: p.protocol ?? 'TCP',
      port: p.port,
      targetPort: p.targetPort ?? p.port,
      ...(p.nodePort !== undefined && { nodePort: p.nodePort }),
    })),
  };
  if (o.externalIPs) spec.externalIPs = both(o.externalIPs, families);
  if (o.sourceRanges) spec.loadBalancerSourceRanges = o.sourceRanges;
  if (o.eTP) spec.externalTrafficPolicy = o.eTP;
  if (o.iTP) spec.internalTrafficPolicy = o.iTP;
  if (o.healthCheckNodePort !== undefined) spec.healthCheckNodePort = o.healthCheckNodePort;
  if (o.affinitySeconds !== undefined) {
    spec.sessionAffinity = 'ClientIP';
    spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: o.affinitySeconds } };
  }
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: o.namespace ?? 'ns1', name: o.name },
    spec,
    ...(o.lbIPs && { status: { loadBalancer: { ingress: both(o.lbIPs, families).map((ip) => ({ ip })) } } }),
  };
}

export interface EndpointOptions {
  /** IPv4; the IPv6 twin goes into the IPv6 slice. */
  ip: string;
  /** Default: this node. */
  nodeName?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

/** Shorthand: an endpoint on this node ("L"), or on `node`. */
export function ep(ip: string, nodeName: string = NODE_NAME, conds: string = 'RS'): EndpointOptions {
  // conds: upper case R/S/T set ready/serving/terminating; their absence means false.
  return {
    ip,
    nodeName,
    ready: conds.includes('R'),
    serving: conds.includes('S'),
    terminating: conds.includes('T'),
  };
}

/** One EndpointSlice per family for a service (label kubernetes.io/service-name). */
export function slices(
  service: string,
  ports: Port[],
  endpoints: EndpointOptions[],
  opts: { namespace?: string; name?: string; families?: readonly Family[] } = {},
): EndpointSlice[] {
  return (opts.families ?? FAMILIES).map((family) => ({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: opts.namespace ?? 'ns1',
      name: `${opts.name ?? service}-${family === 'IPv4' ? 'v4' : 'v6'}`,
      labels: { 'kubernetes.io/service-name': service },
    },
    addressType: family,
    // An unnamed Service port is "" in the slice, as the EndpointSlice controller writes it
    // (a missing name means the port is ignored).
    ports: ports.map((p) => ({
      name: p.name ?? '',
      protocol: p.protocol ?? 'TCP',
      port: p.targetPort ?? p.port,
    })),
    endpoints: endpoints.map((e) => ({
      addresses: [inFamily(e.ip, family)],
      conditions: { ready: e.ready ?? true, serving: e.serving ?? true, terminating: e.terminating ?? false },
      ...(e.nodeName !== undefined && { nodeName: e.nodeName }),
    })),
  }));
}
