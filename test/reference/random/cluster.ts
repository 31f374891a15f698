// The randomised differential's cluster model: Services and EndpointSlices as plain data, rendered
// into the API objects kube-apiserver receives. The backends are a fixed pool of sandbox pods (their
// echo servers listen on BACKEND_PORTS), so one topology serves every seed; a seed picks which of
// them each Service uses and in which state.
import { v6Of } from '../../../src/sandbox/addresses.ts';
import { type KubeObject, NODE_NAME } from '../differential.ts';
import { CLUSTER_CIDR, NODE_IP } from '../topology.ts';

export type Family = 'IPv4' | 'IPv6';
/** Which Services a seed generates: single-stack IPv4, single-stack IPv6, or a mix with dual-stack. */
export type FamilyChoice = 'ipv4' | 'ipv6' | 'dual';
export const FAMILY_CHOICES: readonly FamilyChoice[] = ['ipv4', 'ipv6', 'dual'];

export interface BackendPod {
  /** The pod's IPv4 address; its IPv6 address is v6Of() of it. Also its echo server's name. */
  ip4: string;
  where: 'local' | 'remote';
  /** The EndpointSlice nodeName (upstream's fixtures leave it empty for some remote endpoints). */
  nodeName: string | undefined;
}

export const REMOTE_NODE_NAME = 'node-b';

export const BACKENDS: readonly BackendPod[] = [
  { ip4: '198.18.182.1', where: 'local', nodeName: NODE_NAME },
  { ip4: '198.18.182.2', where: 'local', nodeName: NODE_NAME },
  { ip4: '198.18.182.3', where: 'local', nodeName: NODE_NAME },
  { ip4: '198.18.180.1', where: 'remote', nodeName: REMOTE_NODE_NAME },
  { ip4: '198.18.180.2', where: 'remote', nodeName: REMOTE_NODE_NAME },
  { ip4: '198.18.180.3', where: 'remote', nodeName: undefined },
];

/** What every backend pod listens on (targetPorts come from here). */
export const BACKEND_PORTS = [
  { protocol: 'TCP', port: 8001 },
  { protocol: 'TCP', port: 8002 },
  { protocol: 'UDP', port: 8053 },
] as const;

export const CLUSTER_CIDRS = `${CLUSTER_CIDR},fd00:10::/64`;
export const NODE_IPS: Record<Family, string> = { IPv4: NODE_IP, IPv6: v6Of(NODE_IP) };
export const SECONDARY_NODE_IPS: Record<Family, string> = { IPv4: '198.19.1.2', IPv6: v6Of('198.19.1.2') };
/** The apiserver's --service-cluster-ip-range (the default ServiceCIDR, both families). */
export const SERVICE_CIDRS = '198.19.16.0/20,fd00:10:96::/108';
/** A second ServiceCIDR, created once with the base objects (without a controller-manager nothing
 * would finish its deletion). */
export const EXTRA_SERVICE_CIDR: Record<Family, string> = {
  IPv4: '198.19.64.0/24',
  IPv6: 'fd00:10:97::/112',
};

export function addr(ip4: string, family: Family): string {
  return family === 'IPv4' ? ip4 : v6Of(ip4);
}

/** A ClusterIP in `family` from its IPv4 "seed": the extra ServiceCIDR's twin is fd00:10:97::/112. */
export function serviceIP(ip4: string, family: Family): string {
  if (family === 'IPv4') return ip4;
  const extra = /^198\.19\.64\.(\d+)$/.exec(ip4);
  return extra ? `fd00:10:97::${extra[1]}` : v6Of(ip4);
}

/** loadBalancerSourceRanges by what they let in (ServiceModel.sourceRanges holds these names). */
export const SOURCE_RANGES: Record<'ext' | 'node' | 'pods' | 'blk', Record<Family, string>> = {
  // The external client 198.19.100.2, not the blocked one (.130).
  ext: { IPv4: '198.19.100.0/25', IPv6: 'fd00:19::100:0/120' },
  node: { IPv4: '198.19.0.0/24', IPv6: 'fd00:19::/112' },
  pods: { IPv4: '198.18.0.0/16', IPv6: 'fd00:10::/64' },
  // The blocked client only.
  blk: { IPv4: '198.19.100.128/25', IPv6: 'fd00:19::100:100/120' },
};
export type SourceRangeKind = keyof typeof SOURCE_RANGES;

export type Conditions = { ready?: boolean; serving?: boolean; terminating?: boolean };

export interface EndpointModel {
  /** Index into BACKENDS. */
  backend: number;
  conditions: Conditions;
  /** Topology hints (kube-proxy uses them when every ready endpoint has them). */
  hints?: { zones?: string[]; nodes?: string[] };
}

/** The node's zone label; endpoints are hinted for it or for ZONE_ELSEWHERE. */
export const NODE_ZONE = 'zone-a';
export const ZONE_ELSEWHERE = 'zone-b';

export interface SliceModel {
  name: string;
  family: Family;
  endpoints: EndpointModel[];
  /** Names of the Service ports this slice carries. */
  ports: string[];
}

export interface PortModel {
  name: string;
  protocol: 'TCP' | 'UDP';
  port: number;
  /** What the endpoints listen on: one of BACKEND_PORTS of the same protocol. */
  targetPort: number;
  nodePort?: number;
}

export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'Headless' | 'ExternalName';

export interface ServiceModel {
  ns: string;
  name: string;
  type: ServiceType;
  families: Family[];
  familyPolicy: 'SingleStack' | 'PreferDualStack' | 'RequireDualStack';
  /** The IPv4 "seed" of the ClusterIPs (serviceIP() gives each family's); empty when headless or
   * ExternalName. One seed for every family keeps them unique together. */
  clusterIPs: string[];
  ports: PortModel[];
  /** IPv4 "seeds" of external IPs; rendered in every family of the Service. */
  externalIPs: string[];
  /** IPv4 "seeds" of load balancer ingress IPs; rendered in every family of the Service. */
  lbIPs: string[];
  /** Rendered in every family of the Service. */
  sourceRanges: SourceRangeKind[];
  eTP: 'Local' | 'Cluster';
  iTP: 'Local' | 'Cluster';
  /** ClientIP affinity timeout in seconds, or none. */
  affinity?: number;
  healthCheckNodePort: number;
  allocateLoadBalancerNodePorts: boolean;
  slices: SliceModel[];
  /** Deleted Services stay in the model (a later change may add them back, same spec). */
  present: boolean;
}

export interface ClusterModel {
  family: FamilyChoice;
  masqueradeAll: boolean;
  /** 'node-ips': the node's primary IPs as /32 and /128; 'default': the mode's default (unset). */
  nodePortAddresses: 'node-ips' | 'default';
  services: ServiceModel[];
}

export function externallyAccessible(s: ServiceModel): boolean {
  return (
    s.type === 'NodePort' || s.type === 'LoadBalancer' || (s.type === 'ClusterIP' && s.externalIPs.length > 0)
  );
}

export function hasClusterIP(s: ServiceModel): boolean {
  return s.type === 'ClusterIP' || s.type === 'NodePort' || s.type === 'LoadBalancer';
}

export function hasNodePorts(s: ServiceModel): boolean {
  return s.type === 'NodePort' || (s.type === 'LoadBalancer' && s.allocateLoadBalancerNodePorts);
}

/** The Service as kube-apiserver gets it; LoadBalancer ingress goes in status (written separately). */
export function renderService(s: ServiceModel): KubeObject {
  const meta = { name: s.name, namespace: s.ns };
  if (s.type === 'ExternalName') {
    return {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: meta,
      spec: { type: 'ExternalName', externalName: `${s.name}.example.invalid` },
    };
  }
  const ports = s.ports.map((p) => ({
    ...(p.name ? { name: p.name } : {}),
    protocol: p.protocol,
    port: p.port,
    targetPort: p.targetPort,
    ...(p.nodePort !== undefined && hasNodePorts(s) ? { nodePort: p.nodePort } : {}),
  }));
  const headless = s.type === 'Headless';
  const familySpec = {
    ipFamilies: s.families,
    ipFamilyPolicy: s.familyPolicy,
    clusterIPs: headless ? ['None'] : s.families.map((f) => serviceIP(s.clusterIPs[0]!, f)),
    clusterIP: headless ? 'None' : serviceIP(s.clusterIPs[0]!, s.families[0]!),
  };
  const everyFamily = (seeds: string[]): string[] =>
    s.families.flatMap((f) => seeds.map((ip) => addr(ip, f)));
  const spec: Record<string, unknown> = {
    type: headless ? 'ClusterIP' : s.type,
    ...familySpec,
    ports,
    ...(s.externalIPs.length && !headless ? { externalIPs: everyFamily(s.externalIPs) } : {}),
    ...(s.type === 'LoadBalancer' && s.sourceRanges.length
      ? {
          loadBalancerSourceRanges: s.families.flatMap((f) => s.sourceRanges.map((k) => SOURCE_RANGES[k][f])),
        }
      : {}),
    ...(externallyAccessible(s) ? { externalTrafficPolicy: s.eTP } : {}),
    internalTrafficPolicy: s.iTP,
    ...(s.type === 'LoadBalancer' && s.eTP === 'Local' ? { healthCheckNodePort: s.healthCheckNodePort } : {}),
    ...(s.type === 'LoadBalancer' ? { allocateLoadBalancerNodePorts: s.allocateLoadBalancerNodePorts } : {}),
    ...(s.affinity !== undefined && !headless
      ? { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: s.affinity } } }
      : { sessionAffinity: 'None' }),
  };
  const lb = s.type === 'LoadBalancer' && s.lbIPs.length > 0;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: meta,
    spec,
    ...(lb ? { status: { loadBalancer: { ingress: everyFamily(s.lbIPs).map((ip) => ({ ip })) } } } : {}),
  };
}

export function renderSlice(s: ServiceModel, sl: SliceModel): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: sl.name, namespace: s.ns, labels: { 'kubernetes.io/service-name': s.name } },
    addressType: sl.family,
    endpoints: sl.endpoints.map((e) => {
      const b = BACKENDS[e.backend]!;
      const hints = {
        ...(e.hints?.zones ? { forZones: e.hints.zones.map((name) => ({ name })) } : {}),
        ...(e.hints?.nodes ? { forNodes: e.hints.nodes.map((name) => ({ name })) } : {}),
      };
      return {
        addresses: [addr(b.ip4, sl.family)],
        conditions: e.conditions,
        ...(b.nodeName ? { nodeName: b.nodeName } : {}),
        ...(Object.keys(hints).length ? { hints } : {}),
      };
    }),
    ports: sl.ports.map((name) => {
      const p = s.ports.find((q) => q.name === name)!;
      return { name, protocol: p.protocol, port: p.targetPort };
    }),
  };
}

/** Every API object of the cluster (present Services only), in creation order. */
export function renderCluster(c: ClusterModel): KubeObject[] {
  const live = c.services.filter((s) => s.present);
  return [...live.map(renderService), ...live.flatMap((s) => s.slices.map((sl) => renderSlice(s, sl)))];
}

/** The Node (both families) and the extra ServiceCIDR: created once, kept across seeds. */
export function baseObjects(): KubeObject[] {
  return [
    {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: {
        name: NODE_NAME,
        labels: { 'kubernetes.io/hostname': NODE_NAME, 'topology.kubernetes.io/zone': NODE_ZONE },
      },
      status: {
        addresses: [
          { type: 'InternalIP', address: NODE_IPS.IPv4 },
          { type: 'InternalIP', address: NODE_IPS.IPv6 },
        ],
      },
    },
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'ServiceCIDR',
      metadata: { name: 'kpts-random-extra' },
      spec: { cidrs: [EXTRA_SERVICE_CIDR.IPv4, EXTRA_SERVICE_CIDR.IPv6] },
    },
  ];
}
