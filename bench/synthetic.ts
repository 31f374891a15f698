// Synthetic clusters for benchmarks: Services with a realistic mix of types and policies, and one
// EndpointSlice each. Addresses: ClusterIPs from 198.19.32.1 (service CIDR 198.19.0.0/16 here),
// endpoints in 198.18.0.0/16 — the benchmark namespaces are throwaway and isolated.
import type { EndpointSlice, Service } from '../src/model/k8s.ts';

export interface SyntheticCluster {
  readonly services: Service[];
  readonly slices: EndpointSlice[];
}

export const BENCH_NODE = 'bench-node';
export const BENCH_SERVICE_CIDR = '198.19.0.0/16';
export const BENCH_POD_CIDR = '198.18.0.0/16';

function clusterIP(i: number): string {
  // Skip .0 and .255 octets for realism; 198.19.16.0 onwards, 254 per /24.
  const n = i + 32 * 254;
  return `198.19.${Math.floor(n / 254)}.${(n % 254) + 1}`;
}

export function endpointIP(k: number): string {
  return `198.18.${Math.floor(k / 254) % 256}.${(k % 254) + 1}`;
}

/** Service i: 70 % ClusterIP, 15 % NodePort, 10 % LoadBalancer (half eTP Local), 5 % ClientIP affinity. */
export function syntheticService(i: number): Service {
  const kind = i % 20;
  const type = kind < 14 ? 'ClusterIP' : kind < 17 ? 'NodePort' : kind < 19 ? 'LoadBalancer' : 'ClusterIP';
  const spec: NonNullable<Service['spec']> = {
    type,
    clusterIP: clusterIP(i),
    ports: [
      {
        name: 'http',
        port: 80,
        protocol: 'TCP',
        targetPort: 8080,
        ...(type !== 'ClusterIP' && { nodePort: 20000 + i }),
      },
    ],
  };
  if (type === 'LoadBalancer' && i % 2 === 0) spec.externalTrafficPolicy = 'Local';
  if (kind === 19) spec.sessionAffinity = 'ClientIP';
  const status =
    type === 'LoadBalancer'
      ? { loadBalancer: { ingress: [{ ip: `198.19.${200 + ((i >> 8) % 50)}.${(i % 254) + 1}` }] } }
      : undefined;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { namespace: `ns${i % 50}`, name: `svc-${i}` },
    spec,
    ...(status && { status }),
  };
}

export function syntheticSlice(i: number, endpoints: number, generation = 0): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      namespace: `ns${i % 50}`,
      name: `svc-${i}-abcde`,
      labels: { 'kubernetes.io/service-name': `svc-${i}` },
    },
    addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    endpoints: Array.from({ length: endpoints }, (_, j) => ({
      // A change moves one endpoint to a fresh address, as a pod replacement does.
      addresses: [endpointIP(i * endpoints + j + (j === 0 ? generation * 7919 : 0))],
      conditions: { ready: true },
      nodeName: j % 3 === 0 ? BENCH_NODE : `node-${j % 7}`,
    })),
  };
}

export function syntheticCluster(services: number, endpoints: number): SyntheticCluster {
  return {
    services: Array.from({ length: services }, (_, i) => syntheticService(i)),
    slices: Array.from({ length: services }, (_, i) => syntheticSlice(i, endpoints)),
  };
}
