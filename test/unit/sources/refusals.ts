// The classes of object kube-apiserver would refuse (for the fields kube-proxy reads), each as
// one object with the field its refusal must name: shared by the decoder and source tests.
import type { EndpointSlice, Node, Service, ServiceCIDR } from '../../../src/model/k8s.ts';

type Obj = Record<string, unknown>;

export function service(spec: Obj = {}, metadata: Obj = {}, status?: Obj): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', ...metadata },
    spec: {
      type: 'ClusterIP',
      clusterIP: '198.19.16.10',
      clusterIPs: ['198.19.16.10'],
      ipFamilies: ['IPv4'],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
      ...spec,
    },
    ...(status && { status }),
  } as Service;
}

export function slice(extra: Obj = {}, metadata: Obj = {}): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: 'web-abc12',
      namespace: 'default',
      labels: { 'kubernetes.io/service-name': 'web' },
      ...metadata,
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['198.18.1.10'], conditions: { ready: true }, nodeName: 'node-a' }],
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    ...extra,
  } as EndpointSlice;
}

export function node(spec: Obj = {}, metadata: Obj = {}, status?: Obj): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-a', ...metadata },
    spec: { podCIDR: '198.18.1.0/24', podCIDRs: ['198.18.1.0/24', 'fd00:10::1:0/112'], ...spec },
    status: status ?? { addresses: [{ type: 'InternalIP', address: '198.19.0.2' }] },
  } as Node;
}

export function serviceCIDR(cidrs: unknown): ServiceCIDR {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'ServiceCIDR',
    metadata: { name: 'kubernetes' },
    spec: { cidrs },
  } as ServiceCIDR;
}

export interface Refusal {
  what: string;
  object: object;
  /** The field path the refusal names. */
  field: string;
  /** In the reason. */
  reason: string;
  /**
   * A text on the line the refusal points at (the field's value; a block list or map starts on
   * the line of its first item), and which occurrence; default: the first line with the field's key.
   */
  at?: string | [text: string, occurrence: number];
}

export const REFUSALS: Refusal[] = [
  // Service: names
  {
    what: 'name not a DNS-1123 label',
    object: service({}, { name: 'Web_1' }),
    field: 'metadata.name',
    reason: 'RFC 1123 label',
  },
  {
    what: 'name with nft syntax',
    object: service({}, { name: 'web"; flush ruleset' }),
    field: 'metadata.name',
    reason: 'Invalid value',
  },
  {
    what: 'namespace not a DNS-1123 label',
    object: service({}, { namespace: 'Bad.NS' }),
    field: 'metadata.namespace',
    reason: 'RFC 1123 label',
  },
  // Service: cluster IPs and families
  {
    what: 'unparsable clusterIPs',
    object: service({ clusterIP: '198.19.16.300', clusterIPs: ['198.19.16.300'] }),
    field: 'spec.clusterIPs[0]',
    reason: 'must be a valid IP address',
    at: '- 198.19.16.300',
  },
  {
    what: 'unparsable lone clusterIP',
    object: service({ clusterIP: '198.19.16.10 xyz', clusterIPs: undefined, ipFamilies: undefined }),
    field: 'spec.clusterIP',
    reason: 'must be a valid IP address',
  },
  {
    what: 'clusterIP with leading zeros',
    object: service({ clusterIP: '198.19.016.10', clusterIPs: ['198.19.016.10'] }),
    field: 'spec.clusterIPs[0]',
    reason: 'leading 0s',
    at: '- 198.19.016.10',
  },
  {
    what: 'clusterIPs[0] differs from clusterIP',
    object: service({ clusterIPs: ['198.19.16.11'] }),
    field: 'spec.clusterIPs',
    reason: 'first value must match `clusterIP`',
    at: '- 198.19.16.11',
  },
  {
    what: 'clusterIPs without clusterIP',
    object: service({ clusterIP: undefined }),
    field: 'spec.clusterIPs',
    reason: 'must be empty when `clusterIP` is not specified',
    at: '- 198.19.16.10',
  },
  {
    what: 'two IPv4 clusterIPs',
    object: service({ clusterIPs: ['198.19.16.10', '198.19.16.11'], ipFamilies: undefined }),
    field: 'spec.clusterIPs',
    reason: 'no more than one IP for each IP family',
    at: '- 198.19.16.10',
  },
  {
    what: 'three clusterIPs',
    object: service({ clusterIPs: ['198.19.16.10', 'fd00:10:96::a', '198.19.16.11'], ipFamilies: undefined }),
    field: 'spec.clusterIPs',
    reason: 'may only hold up to 2 values',
    at: '- 198.19.16.10',
  },
  {
    what: 'clusterIP of the other family than ipFamilies says',
    object: service({ ipFamilies: ['IPv6'] }),
    field: 'spec.clusterIPs[0]',
    reason: 'expected an IPv6 value as indicated by `ipFamilies[0]`',
    at: '- 198.19.16.10',
  },
  {
    what: 'unknown IP family',
    object: service({ ipFamilies: ['IPv5'] }),
    field: 'spec.ipFamilies[0]',
    reason: 'Unsupported value: "IPv5"',
    at: '- IPv5',
  },
  {
    what: 'duplicate IP family',
    object: service({ ipFamilies: ['IPv4', 'IPv4'] }),
    field: 'spec.ipFamilies[1]',
    reason: 'Duplicate value',
    at: ['- IPv4', 2],
  },
  {
    what: 'unknown ipFamilyPolicy',
    object: service({ ipFamilyPolicy: 'DualStackPlease' }),
    field: 'spec.ipFamilyPolicy',
    reason: 'Unsupported value',
  },
  {
    what: 'SingleStack with two families',
    object: service({
      ipFamilyPolicy: 'SingleStack',
      clusterIPs: ['198.19.16.10', 'fd00:10:96::a'],
      ipFamilies: ['IPv4', 'IPv6'],
    }),
    field: 'spec.ipFamilyPolicy',
    reason: "must be 'RequireDualStack' or 'PreferDualStack'",
  },
  {
    what: 'headless NodePort',
    object: service({
      type: 'NodePort',
      clusterIP: 'None',
      clusterIPs: ['None'],
      ports: [{ port: 80, nodePort: 30080 }],
    }),
    field: 'spec.clusterIP',
    reason: "may not be set to 'None' for NodePort services",
  },
  // Service: type and ports
  {
    what: 'unknown type',
    object: service({ type: 'Headless' }),
    field: 'spec.type',
    reason: 'Unsupported value: "Headless"',
  },
  { what: 'no ports', object: service({ ports: [] }), field: 'spec.ports', reason: 'Required value' },
  {
    what: 'port 70000',
    object: service({ ports: [{ name: 'http', port: 70000 }] }),
    field: 'spec.ports[0].port',
    reason: 'Invalid value: 70000: must be between 1 and 65535, inclusive',
  },
  {
    what: 'port 0',
    object: service({ ports: [{ name: 'http', port: 0 }] }),
    field: 'spec.ports[0].port',
    reason: 'must be between 1 and 65535',
  },
  {
    what: 'unsupported protocol',
    object: service({ ports: [{ name: 'http', port: 80, protocol: 'ICMP' }] }),
    field: 'spec.ports[0].protocol',
    reason: 'Unsupported value: "ICMP": supported values: "SCTP", "TCP", "UDP"',
  },
  {
    what: 'lower-case protocol',
    object: service({ ports: [{ name: 'http', port: 80, protocol: 'tcp' }] }),
    field: 'spec.ports[0].protocol',
    reason: 'Unsupported value: "tcp"',
  },
  {
    what: 'port name not a DNS-1123 label',
    object: service({ ports: [{ name: 'HTTP', port: 80 }] }),
    field: 'spec.ports[0].name',
    reason: 'RFC 1123 label',
    at: '- name: HTTP',
  },
  {
    what: 'unnamed port among several',
    object: service({ ports: [{ port: 80 }, { name: 'b', port: 81 }] }),
    field: 'spec.ports[0].name',
    reason: 'Required value',
    at: '- port: 80',
  },
  {
    what: 'duplicate port name',
    object: service({
      ports: [
        { name: 'a', port: 80 },
        { name: 'a', port: 81 },
      ],
    }),
    field: 'spec.ports[1].name',
    reason: 'Duplicate value: "a"',
    at: ['- name: a', 2],
  },
  {
    what: 'duplicate port and protocol',
    object: service({
      ports: [
        { name: 'a', port: 80 },
        { name: 'b', port: 80 },
      ],
    }),
    field: 'spec.ports[1]',
    reason: 'Duplicate value',
    at: '- name: b',
  },
  {
    what: 'nodePort on a ClusterIP service',
    object: service({ ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
    field: 'spec.ports[0].nodePort',
    reason: "Forbidden: may not be used when `type` is 'ClusterIP'",
  },
  {
    what: 'nodePort out of range',
    object: service({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 70000 }] }),
    field: 'spec.ports[0].nodePort',
    reason: 'must be between 1 and 65535',
  },
  {
    what: 'duplicate nodePort',
    object: service({
      type: 'NodePort',
      ports: [
        { name: 'a', port: 80, nodePort: 30080 },
        { name: 'b', port: 81, nodePort: 30080 },
      ],
    }),
    field: 'spec.ports[1].nodePort',
    reason: 'Duplicate value: 30080',
    at: ['nodePort: 30080', 2],
  },
  // Service: external IPs, source ranges, affinity, traffic policies
  ...(
    [
      ['127.0.0.1', 'loopback'],
      ['0.0.0.0', 'unspecified'],
      ['169.254.1.1', 'link-local range'],
      ['fe80::1', 'link-local range'],
      ['224.0.0.1', 'link-local multicast'],
      ['198.19.99.1 x', 'must be a valid IP address'],
      ['::ffff:198.19.99.1', 'IPv4-mapped'],
    ] as const
  ).map(
    ([ip, reason]): Refusal => ({
      what: `externalIP ${ip}`,
      object: service({ externalIPs: ['198.19.99.2', ip] }),
      field: 'spec.externalIPs[1]',
      reason,
      at: `- ${ip}`,
    }),
  ),
  {
    what: 'loadBalancerSourceRanges on a ClusterIP service',
    object: service({ loadBalancerSourceRanges: ['198.19.100.0/25'] }),
    field: 'spec.loadBalancerSourceRanges',
    reason: "may only be used when `type` is 'LoadBalancer'",
    at: '- 198.19.100.0/25',
  },
  {
    what: 'loadBalancerSourceRanges with host bits',
    object: service({ type: 'LoadBalancer', loadBalancerSourceRanges: ['198.19.100.1/25'] }),
    field: 'spec.loadBalancerSourceRanges[0]',
    reason: 'bits set beyond the prefix length (use "198.19.100.0/25")',
    at: '- 198.19.100.1/25',
  },
  {
    what: 'loadBalancerSourceRanges not a CIDR',
    object: service({ type: 'LoadBalancer', loadBalancerSourceRanges: ['198.19.100.0/25; drop'] }),
    field: 'spec.loadBalancerSourceRanges[0]',
    reason: 'must be a valid CIDR value',
    at: '- 198.19.100.0/25; drop',
  },
  {
    what: 'unknown sessionAffinity',
    object: service({ sessionAffinity: 'Sticky' }),
    field: 'spec.sessionAffinity',
    reason: 'Unsupported value: "Sticky"',
  },
  ...[0, -5, 86401].map(
    (t): Refusal => ({
      what: `affinity timeout ${t}`,
      object: service({
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: t } },
      }),
      field: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
      reason: 'must be greater than 0 and at most 86400',
    }),
  ),
  {
    what: 'healthCheckNodePort on a NodePort service',
    object: service({
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 30300,
      ports: [{ name: 'http', port: 80, nodePort: 30080 }],
    }),
    field: 'spec.healthCheckNodePort',
    reason: "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'",
  },
  {
    what: 'healthCheckNodePort out of range',
    object: service({ type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 65536 }),
    field: 'spec.healthCheckNodePort',
    reason: 'must be between 1 and 65535',
  },
  {
    what: 'externalTrafficPolicy on an internal service',
    object: service({ externalTrafficPolicy: 'Local' }),
    field: 'spec.externalTrafficPolicy',
    reason: 'may only be set for externally-accessible services',
  },
  {
    what: 'unknown externalTrafficPolicy',
    object: service({ type: 'NodePort', externalTrafficPolicy: 'Global' }),
    field: 'spec.externalTrafficPolicy',
    reason: 'Unsupported value: "Global"',
  },
  {
    what: 'unknown internalTrafficPolicy',
    object: service({ internalTrafficPolicy: 'Node' }),
    field: 'spec.internalTrafficPolicy',
    reason: 'Unsupported value: "Node"',
  },
  {
    what: 'unknown trafficDistribution',
    object: service({ trafficDistribution: 'Nearest' }),
    field: 'spec.trafficDistribution',
    reason: 'Unsupported value: "Nearest"',
  },
  {
    what: 'load balancer ingress on a ClusterIP service',
    object: service({}, {}, { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } }),
    field: 'status.loadBalancer.ingress',
    reason: "may only be used when `spec.type` is 'LoadBalancer'",
    at: '- ip: 198.19.200.4',
  },
  {
    what: 'unparsable load balancer ingress IP',
    object: service({ type: 'LoadBalancer' }, {}, { loadBalancer: { ingress: [{ ip: '198.19.200.400' }] } }),
    field: 'status.loadBalancer.ingress[0].ip',
    reason: 'must be a valid IP address',
  },
  {
    what: 'unknown ipMode',
    object: service(
      { type: 'LoadBalancer' },
      {},
      { loadBalancer: { ingress: [{ ip: '198.19.200.4', ipMode: 'Magic' }] } },
    ),
    field: 'status.loadBalancer.ingress[0].ipMode',
    reason: 'Unsupported value: "Magic"',
  },
  {
    what: 'a wrong type is named by field too',
    object: service({ ports: [{ name: 'http', port: '80' }] }),
    field: 'spec.ports[0].port',
    reason: 'expected integer, got string',
  },
  // EndpointSlice
  {
    what: 'address 198.18.1.300',
    object: slice({ endpoints: [{ addresses: ['198.18.1.300'] }] }),
    field: 'endpoints[0].addresses[0]',
    reason: 'must be a valid IP address',
    at: '- 198.18.1.300',
  },
  {
    what: 'address with trailing junk',
    object: slice({ endpoints: [{ addresses: ['198.18.1.10'] }, { addresses: ['198.18.1.10 xyz'] }] }),
    field: 'endpoints[1].addresses[0]',
    reason: 'must be a valid IP address',
    at: '- 198.18.1.10 xyz',
  },
  {
    what: 'IPv6 address in an IPv4 slice',
    object: slice({ endpoints: [{ addresses: ['fd00:10::1:10'] }] }),
    field: 'endpoints[0].addresses[0]',
    reason: 'must be an IPv4 address',
    at: '- fd00:10::1:10',
  },
  {
    what: 'IPv6 address not in canonical form',
    object: slice({ addressType: 'IPv6', endpoints: [{ addresses: ['fd00:10:0::1:10'] }] }),
    field: 'endpoints[0].addresses[0]',
    reason: 'must be in canonical form ("fd00:10::1:10")',
    at: '- fd00:10:0::1:10',
  },
  {
    what: 'loopback endpoint',
    object: slice({ endpoints: [{ addresses: ['127.0.0.1'] }] }),
    field: 'endpoints[0].addresses[0]',
    reason: 'loopback',
    at: '- 127.0.0.1',
  },
  {
    what: 'endpoint without addresses',
    object: slice({ endpoints: [{ addresses: [], conditions: { ready: true } }] }),
    field: 'endpoints[0].addresses',
    reason: 'must contain at least 1 address',
  },
  {
    what: 'more than 100 addresses',
    object: slice({ endpoints: [{ addresses: Array.from({ length: 101 }, (_, i) => `198.18.2.${i + 1}`) }] }),
    field: 'endpoints[0].addresses',
    reason: 'Too many: 101: must have at most 100 items',
    at: '- 198.18.2.1',
  },
  {
    what: 'missing addressType',
    object: slice({ addressType: undefined }),
    field: 'addressType',
    reason: 'Required value',
    at: 'apiVersion:',
  },
  {
    what: 'unknown addressType',
    object: slice({ addressType: 'IPv5' }),
    field: 'addressType',
    reason: 'Unsupported value: "IPv5"',
  },
  {
    what: 'endpoint condition of the wrong type',
    object: slice({ endpoints: [{ addresses: ['198.18.1.10'], conditions: { ready: 'yes please' } }] }),
    field: 'endpoints[0].conditions.ready',
    reason: 'expected boolean, got string',
  },
  {
    what: 'nodeName not a DNS subdomain',
    object: slice({ endpoints: [{ addresses: ['198.18.1.10'], nodeName: 'Node A' }] }),
    field: 'endpoints[0].nodeName',
    reason: 'RFC 1123 subdomain',
  },
  {
    what: 'zone hint not a label value',
    object: slice({ endpoints: [{ addresses: ['198.18.1.10'], hints: { forZones: [{ name: 'zone a' }] } }] }),
    field: 'endpoints[0].hints.forZones[0].name',
    reason: 'Invalid value: "zone a"',
    at: '- name: zone a',
  },
  {
    what: 'port name not a DNS-1123 label',
    object: slice({ ports: [{ name: 'Http', port: 8080 }] }),
    field: 'ports[0].name',
    reason: 'RFC 1123 label',
    at: '- name: Http',
  },
  {
    what: 'duplicate slice port name',
    object: slice({
      ports: [
        { name: 'a', port: 8080 },
        { name: 'a', port: 8081 },
      ],
    }),
    field: 'ports[1].name',
    reason: 'Duplicate value: "a"',
    at: ['- name: a', 2],
  },
  {
    what: 'slice port protocol',
    object: slice({ ports: [{ name: 'http', port: 8080, protocol: 'tcp' }] }),
    field: 'ports[0].protocol',
    reason: 'Unsupported value: "tcp"',
  },
  {
    what: 'slice port 70000',
    object: slice({ ports: [{ name: 'http', port: 70000 }] }),
    field: 'ports[0].port',
    reason: 'must be between 1 and 65535',
  },
  {
    what: 'no service-name label',
    object: slice({}, { labels: { app: 'web' } }),
    field: 'metadata.labels[kubernetes.io/service-name]',
    reason: 'Required value',
    at: 'app: web',
  },
  {
    what: 'service-name label that names no possible Service',
    object: slice({}, { labels: { 'kubernetes.io/service-name': 'Web.Front' } }),
    field: 'metadata.labels[kubernetes.io/service-name]',
    reason: 'must be a Service name',
    at: 'service-name: Web.Front',
  },
  {
    what: 'slice name not a DNS subdomain',
    object: slice({}, { name: 'web_abc' }),
    field: 'metadata.name',
    reason: 'RFC 1123 subdomain',
  },
  // Node
  {
    what: 'node name',
    object: node({}, { name: 'Node A' }),
    field: 'metadata.name',
    reason: 'RFC 1123 subdomain',
  },
  {
    what: 'podCIDR with host bits',
    object: node({ podCIDR: undefined, podCIDRs: ['198.18.1.1/24'] }),
    field: 'spec.podCIDRs[0]',
    reason: 'bits set beyond the prefix length',
    at: '- 198.18.1.1/24',
  },
  {
    what: 'two IPv4 podCIDRs',
    object: node({ podCIDR: undefined, podCIDRs: ['198.18.1.0/24', '198.18.2.0/24'] }),
    field: 'spec.podCIDRs',
    reason: 'no more than one CIDR for each IP family',
    at: '- 198.18.1.0/24',
  },
  {
    what: 'taint effect',
    object: node({ taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'Sometimes' }] }),
    field: 'spec.taints[0].effect',
    reason: 'Unsupported value: "Sometimes"',
  },
  {
    what: 'duplicate node address',
    object: node(
      {},
      {},
      {
        addresses: [
          { type: 'InternalIP', address: '198.19.0.2' },
          { type: 'InternalIP', address: '198.19.0.2' },
        ],
      },
    ),
    field: 'status.addresses[1]',
    reason: 'Duplicate value',
    at: ['- type: InternalIP', 2],
  },
  // ServiceCIDR
  {
    what: 'ServiceCIDR with host bits',
    object: serviceCIDR(['198.19.16.1/20']),
    field: 'spec.cidrs[0]',
    reason: 'bits set beyond the prefix length',
    at: '- 198.19.16.1/20',
  },
  {
    what: 'ServiceCIDR not canonical',
    object: serviceCIDR(['fd00:10:96:0::/108']),
    field: 'spec.cidrs[0]',
    reason: 'must be in canonical form ("fd00:10:96::/108")',
    at: '- fd00:10:96:0::/108',
  },
  {
    what: 'two IPv4 ServiceCIDRs',
    object: serviceCIDR(['198.19.16.0/20', '198.19.32.0/20']),
    field: 'spec.cidrs',
    reason: 'no more than one CIDR for each IP family',
    at: '- 198.19.16.0/20',
  },
  {
    what: 'no ServiceCIDRs',
    object: serviceCIDR([]),
    field: 'spec.cidrs',
    reason: 'at least one CIDR required',
  },
];
