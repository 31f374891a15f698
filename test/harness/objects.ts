// Builders for the few API objects kernel tests feed the proxy. Defaults match the sandbox
// address plan and the proxy flags in proxy-env.ts (node "node-a").
import type { EndpointSlice, Node, Service, ServiceCIDR } from '../../src/model/k8s.ts';
import { IPV4_PLAN } from '../../src/sandbox/addresses.ts';

export const NODE_NAME = 'node-a';

export interface PortSpec {
  /** Shared by the Service port and the EndpointSlice port: that is how they are matched. */
  name: string;
  protocol: 'TCP' | 'UDP';
  /** The Service port. */
  port: number;
  /** The pod's port, used by the EndpointSlice. */
  targetPort: number;
}

export const HTTP: PortSpec = { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 };
export const DNS: PortSpec = { name: 'dns', protocol: 'UDP', port: 53, targetPort: 8053 };

export function serviceCIDR(cidrs: string[] = [IPV4_PLAN.serviceCIDR], name = 'kubernetes'): ServiceCIDR {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'ServiceCIDR', metadata: { name }, spec: { cidrs } };
}

export function node(name = NODE_NAME, ip = IPV4_PLAN.nodeIP): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  };
}

export function service(name: string, clusterIP: string, ports: PortSpec[], namespace = 'default'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      clusterIPs: [clusterIP],
      ipFamilies: ['IPv4'],
      ports: ports.map((p) => ({
        name: p.name,
        protocol: p.protocol,
        port: p.port,
        targetPort: p.targetPort,
      })),
    },
  };
}

export function endpointSlice(
  serviceName: string,
  ips: string[],
  ports: PortSpec[],
  opts: { namespace?: string; name?: string; nodeName?: string } = {},
): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: opts.name ?? `${serviceName}-abc12`,
      namespace: opts.namespace ?? 'default',
      labels: { 'kubernetes.io/service-name': serviceName },
    },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({
      addresses: [ip],
      conditions: { ready: true, serving: true, terminating: false },
      nodeName: opts.nodeName ?? NODE_NAME,
    })),
    ports: ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.targetPort })),
  };
}
