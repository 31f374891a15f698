// The clusters of the golden rulesets: the nftables ones (test/golden/nftables-clusterip-ipv{4,6}.nft;
// the proxier test checks the fake's dump of each against its file, the netlink writer's tests send
// the same transactions to the kernel) and the Services of upstream's TestOverallIPTablesRules (the
// iptables ruleset and proxier goldens, the IPVS one). Objects only: callers sync when they need to.
import type { Service } from '../../src/model/k8s.ts';
import { type FakeProxier, newFakeProxier } from './fake-proxier.ts';
import { ep, NODE_NAME, service, slice } from './fixtures.ts';

const p80 = (nodePort?: number) => [
  { name: 'p80', port: 80, protocol: 'TCP', ...(nodePort && { nodePort }) },
];

/**
 * Upstream's TestOverallIPTablesRules Services, re-addressed: svc1 ClusterIP; svc2 LoadBalancer,
 * eTP Local, with an external IP; svc3 NodePort; svc4 NodePort with an external IP; svc5
 * LoadBalancer, eTP Cluster, ClientIP affinity and a source range; svc6 ClusterIP.
 */
export function overallServices(): Service[] {
  return [
    service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() }),
    service(
      'ns2',
      'svc2',
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        clusterIP: '198.19.16.42',
        ports: p80(3001),
        externalIPs: ['198.19.99.22'],
        healthCheckNodePort: 30000,
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } },
    ),
    service('ns3', 'svc3', { type: 'NodePort', clusterIP: '198.19.16.43', ports: p80(3003) }),
    service('ns4', 'svc4', {
      type: 'NodePort',
      clusterIP: '198.19.16.44',
      externalIPs: ['198.19.99.33'],
      ports: p80(),
    }),
    service(
      'ns5',
      'svc5',
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Cluster',
        clusterIP: '198.19.16.45',
        ports: p80(3002),
        healthCheckNodePort: 30000,
        loadBalancerSourceRanges: [' 198.19.100.0/25'],
        sessionAffinity: 'ClientIP',
        sessionAffinityConfig: { clientIP: { timeoutSeconds: 10800 } },
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.8' }] } },
    ),
    service('ns6', 'svc6', { type: 'ClusterIP', clusterIP: '198.19.16.46', ports: p80() }),
  ];
}

/** Three IPv4 ClusterIP services: one endpoint; UDP and SCTP with ClientIP affinity; none. */
export function clusterIPFixture(overrides: Parameters<typeof newFakeProxier>[0] = {}): FakeProxier {
  const fp = newFakeProxier(overrides);
  const p = fp.proxier;
  p.onServiceAdd(service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: [{ name: 'p80', port: 80 }] }));
  p.onServiceAdd(
    service('ns2', 'svc2', {
      clusterIP: '198.19.16.42',
      ports: [
        { name: 'dns-udp', port: 53, protocol: 'UDP' },
        { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
      ],
      sessionAffinity: 'ClientIP',
    }),
  );
  p.onServiceAdd(service('ns6', 'svc6', { clusterIP: '198.19.16.46', ports: [{ name: 'p80', port: 80 }] }));
  p.onEndpointSliceAdd(slice('ns1', 'svc1', 'svc1-a', [{ name: 'p80', port: 80 }], [ep('198.18.180.1')]));
  p.onEndpointSliceAdd(
    slice(
      'ns2',
      'svc2',
      'svc2-a',
      [
        { name: 'dns-udp', port: 53, protocol: 'UDP' },
        { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
      ],
      [ep('198.18.180.2', NODE_NAME), ep('198.18.180.3', 'node2')],
    ),
  );
  return fp;
}

/** One IPv6 ClusterIP service with a local endpoint, on a dual-stack ServiceCIDR set. */
export function clusterIPv6Fixture(): FakeProxier {
  const fp = newFakeProxier({ family: 'IPv6', podCIDR: 'fd00:10::/64' });
  const p = fp.proxier;
  p.onServiceCIDRsChanged(['198.19.16.0/20', 'fd00:10:96::/112']);
  p.onServiceAdd(
    service('ns1', 'svc1', {
      clusterIP: 'fd00:10:96::41',
      clusterIPs: ['fd00:10:96::41'],
      ipFamilies: ['IPv6'],
      ports: [{ name: 'p80', port: 80 }],
    }),
  );
  p.onEndpointSliceAdd(
    slice('ns1', 'svc1', 'svc1-a', [{ name: 'p80', port: 80 }], [ep('fd00:10:180::1', NODE_NAME)], 'IPv6'),
  );
  return fp;
}
