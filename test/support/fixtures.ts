// Builders for Kubernetes objects in tests. Addresses follow the map in test/README.md:
// upstream's fixtures re-addressed into 198.18.0.0/15 and fd00::/8.
import type { EndpointSlice, Node, Service, ServicePortSpec, SliceEndpoint } from '../../src/model/k8s.ts';

export const NODE_NAME = 'test-node';
export const NODE_IP = '198.19.0.2';
export const NODE_IP_ALT = '198.19.1.2';
export const POD_CIDR = '198.18.0.0/16';
export const POD_IP = '198.18.0.2';
export const SERVICE_CIDR = '198.19.16.0/20';
export const EXTERNAL_CLIENT = '198.19.100.2';
export const BLOCKED_CLIENT = '198.19.100.130';

export function service(
  ns: string,
  name: string,
  spec: Omit<NonNullable<Service['spec']>, 'ports'> & { ports: ServicePortSpec[] },
  status?: Service['status'],
): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: ns, name },
    spec,
    ...(status && { status }),
  };
}

export function slice(
  ns: string,
  svc: string,
  name: string,
  ports: { name?: string; port: number; protocol?: string }[],
  endpoints: SliceEndpoint[],
  addressType = 'IPv4',
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': svc } },
    addressType,
    ports: ports.map((p) => ({ name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' })),
    endpoints,
  };
}

export function ep(ip: string, nodeName?: string, conditions?: SliceEndpoint['conditions']): SliceEndpoint {
  return { addresses: [ip], ...(nodeName && { nodeName }), ...(conditions && { conditions }) };
}

export function node(name: string, ips: string[], labels: Record<string, string> = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    status: { addresses: ips.map((address) => ({ type: 'InternalIP', address })) },
  };
}
