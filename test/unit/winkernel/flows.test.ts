// The shared packet-flow semantics (§3d, see test/kernel/README.md) that apply to kernelspace mode,
// as expectations on the load balancers the model holds: HNS has no rules to trace, so "a flow to
// VIP:port reaches endpoints X" becomes "the load balancer of frontend VIP:port has backends X",
// and "REJECT"/"DROP" becomes "no load balancer for that frontend".
//
// Not applicable in this mode, as in upstream's winkernel proxier: per-source outcomes (hairpin
// masquerade B2, pod vs external client for eTP Local E2/E4/E6 — HNS has one load balancer per
// frontend, so pods reaching an external frontend get the local endpoints too), source ranges
// (C6–C9: winkernel does not program loadBalancerSourceRanges), nodePortAddresses (D4/D5: node ports
// are on every node address), the nftables-only unallocated ClusterIP drop (B10). Where winkernel
// departs from §3d on terminating endpoints (H3, H7, I4), the case says so and asserts winkernel.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { EndpointSlice, Service, SliceEndpoint } from '../../../src/model/k8s.ts';
import {
  type FakeProxier,
  makeTestEndpointSlice,
  makeTestService,
  NETWORK_TYPE_L2BRIDGE,
  networkId,
  newFakeProxier,
  type ServiceParts,
  start,
  testNodeName,
} from './fixtures.ts';

const PROTO: Record<number, string> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };

/** Every load balancer as "VIP:port/PROTO" (VIP "node" for NodePorts) → sorted "ip:port" backends. */
function frontends(fp: FakeProxier): Record<string, string[]> {
  const ipOf = new Map(fp.hcn.endpoints().map((e) => [e.ID!, e.IpConfigurations?.[0]?.IpAddress ?? '?']));
  const out: Record<string, string[]> = {};
  for (const lb of fp.hcn.loadBalancers()) {
    const pm = lb.PortMappings![0]!;
    const fe = `${lb.FrontendVIPs?.[0] ?? 'node'}:${pm.ExternalPort}/${PROTO[pm.Protocol ?? 0]}`;
    assert.equal(out[fe], undefined, `two load balancers for ${fe}`);
    out[fe] = (lb.HostComputeEndpoints ?? []).map((id) => `${ipOf.get(id)}:${pm.InternalPort}`).sort();
  }
  return out;
}

/** A proxier on an l2bridge network whose CNI created endpoints for this node's pods. */
async function run(services: Service[], slices: EndpointSlice[], localPods: string[]): Promise<FakeProxier> {
  const fp = await newFakeProxier({ networkType: NETWORK_TYPE_L2BRIDGE, enableDSR: false });
  for (const [i, ip] of localPods.entries())
    fp.hcn.populateEndpoint({ id: `POD-${i}`, network: networkId, ip });
  start(fp, services, slices);
  await fp.sync();
  assert.deepEqual(fp.failures, []);
  return fp;
}

const svc = (name: string, f: (s: ServiceParts) => void) => makeTestService('ns1', name, f);
const eps = (
  name: string,
  endpoints: SliceEndpoint[],
  ports: { name?: string; port: number; protocol?: string }[] = [{ port: 80 }],
) => makeTestEndpointSlice('ns1', name, 1, endpoints, ports);
const L = testNodeName;
const R = (ready: boolean, serving: boolean, terminating: boolean) => ({ ready, serving, terminating });

describe('§3d flows in kernelspace mode (load balancers of the HNS model)', () => {
  it('A: no endpoints, no load balancer for any frontend (TestNoEndpointsReject)', async () => {
    const fp = await run(
      [
        svc('svc1', (s) => {
          s.spec.type = 'LoadBalancer';
          s.spec.clusterIP = '198.19.16.41';
          s.spec.externalIPs = ['198.19.99.11'];
          s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
          s.status.loadBalancer = { ingress: [{ ip: '198.19.200.4' }] };
        }),
      ],
      [],
      [],
    );
    assert.deepEqual(frontends(fp), {});
  });

  it('B: ClusterIP general — ports, target ports, protocols (TestClusterIPGeneral)', async () => {
    const fp = await run(
      [
        svc('svc1', (s) => {
          s.spec.clusterIP = '198.19.16.41';
          s.spec.ports = [{ name: 'http', port: 80, protocol: 'TCP' }];
        }),
        svc('svc2', (s) => {
          s.spec.clusterIP = '198.19.16.42';
          s.spec.ports = [
            { name: 'http', port: 80, protocol: 'TCP' },
            { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
            { name: 'dns-udp', port: 53, protocol: 'UDP' },
            { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353 },
            { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
          ];
        }),
      ],
      [
        eps('svc1', [{ addresses: ['198.18.180.1'], nodeName: L }], [{ name: 'http', port: 80 }]),
        eps(
          'svc2',
          [
            { addresses: ['198.18.180.1'], nodeName: L },
            { addresses: ['198.18.182.1'], nodeName: 'node2' },
          ],
          [
            { name: 'http', port: 80 },
            { name: 'https', port: 8443 },
            { name: 'dns-udp', port: 53, protocol: 'UDP' },
            { name: 'dns-tcp', port: 5353 },
            { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
          ],
        ),
      ],
      ['198.18.180.1'],
    );
    const both = (p: number) => [`198.18.180.1:${p}`, `198.18.182.1:${p}`];
    assert.deepEqual(frontends(fp), {
      '198.19.16.41:80/TCP': ['198.18.180.1:80'], // B1
      '198.19.16.42:80/TCP': both(80), // B3
      '198.19.16.42:443/TCP': both(8443), // B4
      '198.19.16.42:53/TCP': both(5353), // B5
      '198.19.16.42:53/UDP': both(53), // B6
      '198.19.16.42:53/SCTP': both(53), // B7
      // B8 (80/UDP) and B9 (.41:443) have no load balancer.
    });
  });

  it('C: LoadBalancer with two ingress IPs and a node port (TestLoadBalancer)', async () => {
    const fp = await run(
      [
        svc('svc1', (s) => {
          s.spec.type = 'LoadBalancer';
          s.spec.clusterIP = '198.19.16.41';
          s.spec.loadBalancerSourceRanges = ['198.19.0.0/24', '198.19.100.0/25'];
          s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
          s.status.loadBalancer = { ingress: [{ ip: '198.19.200.4' }, { ip: '198.19.200.8' }] };
        }),
      ],
      [eps('svc1', [{ addresses: ['198.18.180.1'] }], [{ name: 'p80', port: 80 }])],
      [],
    );
    const EP = ['198.18.180.1:80'];
    assert.deepEqual(frontends(fp), {
      '198.19.16.41:80/TCP': EP, // C1
      'node:3001/TCP': EP, // C2, C3
      '198.19.200.4:80/TCP': EP, // C4, C10, C12
      '198.19.200.8:80/TCP': EP, // C5, C11, C13
    });
  });

  it('D: a node port is one load balancer without VIP, routed locally (TestNodePorts)', async () => {
    const fp = await run(
      [
        svc('svc1', (s) => {
          s.spec.type = 'NodePort';
          s.spec.clusterIP = '198.19.16.41';
          s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001 }];
        }),
      ],
      [
        eps(
          'svc1',
          [{ addresses: ['198.18.180.1'] }, { addresses: ['198.18.182.1'], nodeName: L }],
          [{ name: 'p80', port: 80 }],
        ),
      ],
      ['198.18.182.1'],
    );
    const BOTH = ['198.18.180.1:80', '198.18.182.1:80'];
    assert.deepEqual(frontends(fp), { '198.19.16.41:80/TCP': BOTH, 'node:3001/TCP': BOTH }); // D1, D2, D3
    const np = fp.hcn
      .loadBalancers()
      .find((lb) => lb.FrontendVIPs === undefined || lb.FrontendVIPs.length === 0)!;
    // LocalRoutedVIP | VipExternalIP: the host reaches it too.
    assert.equal(np.PortMappings![0]!.Flags, 2 | 16);
  });

  const policyFixture = (eTP: 'Local' | 'Cluster') =>
    svc('svc1', (s) => {
      s.spec.type = 'LoadBalancer';
      s.spec.clusterIP = '198.19.16.41';
      s.spec.externalIPs = ['198.19.99.11'];
      s.spec.externalTrafficPolicy = eTP;
      if (eTP === 'Local') s.spec.healthCheckNodePort = 30000;
      s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3001, targetPort: 80 }];
      s.status.loadBalancer = { ingress: [{ ip: '198.19.200.4' }] };
    });
  const policyEndpoints = () =>
    eps(
      'svc1',
      [{ addresses: ['198.18.180.1'] }, { addresses: ['198.18.182.1'], nodeName: L }],
      [{ name: 'p80', port: 80 }],
    );

  it('E: eTP Local — external frontends only reach the local endpoint, with DSR (TestExternalTrafficPolicyLocal)', async () => {
    const fp = await run([policyFixture('Local')], [policyEndpoints()], ['198.18.182.1']);
    const BOTH = ['198.18.180.1:80', '198.18.182.1:80'];
    const LOCAL = ['198.18.182.1:80'];
    assert.deepEqual(frontends(fp), {
      '198.19.16.41:80/TCP': BOTH, // E1
      '198.19.99.11:80/TCP': LOCAL, // E3
      '198.19.200.4:80/TCP': LOCAL, // E5
      'node:3001/TCP': LOCAL, // E7
    });
    for (const lb of fp.hcn.loadBalancers()) {
      const external = lb.FrontendVIPs?.[0] !== '198.19.16.41';
      assert.equal(lb.Flags ?? 0, external ? 1 : 0, `DSR only on external frontends (${lb.FrontendVIPs})`);
    }
  });

  it('F: eTP Cluster — every frontend reaches both endpoints (TestExternalTrafficPolicyCluster)', async () => {
    const fp = await run([policyFixture('Cluster')], [policyEndpoints()], ['198.18.182.1']);
    const BOTH = ['198.18.180.1:80', '198.18.182.1:80'];
    assert.deepEqual(frontends(fp), {
      '198.19.16.41:80/TCP': BOTH, // F1
      '198.19.99.11:80/TCP': BOTH, // F2, F3
      '198.19.200.4:80/TCP': BOTH, // F4, F5
      'node:3001/TCP': BOTH, // F6, F7
    });
  });

  describe('G: internal traffic policy (TestInternalTrafficPolicy)', () => {
    const cases: [string, 'Cluster' | 'Local', [string, string][], string[] | undefined][] = [
      [
        'G1',
        'Cluster',
        [
          ['198.18.10.1', L],
          ['198.18.10.2', 'node1'],
          ['198.18.10.3', 'node2'],
        ],
        ['198.18.10.1:80', '198.18.10.2:80', '198.18.10.3:80'],
      ],
      [
        'G2',
        'Local',
        [
          ['198.18.10.1', L],
          ['198.18.10.2', 'node1'],
          ['198.18.10.3', 'node2'],
        ],
        ['198.18.10.1:80'],
      ],
      [
        'G3',
        'Local',
        [
          ['198.18.10.1', L],
          ['198.18.10.2', L],
          ['198.18.10.3', 'node2'],
        ],
        ['198.18.10.1:80', '198.18.10.2:80'],
      ],
      [
        'G4',
        'Local',
        [
          ['198.18.10.1', 'node0'],
          ['198.18.10.2', 'node1'],
          ['198.18.10.3', 'node2'],
        ],
        undefined,
      ],
    ];
    for (const [name, itp, endpoints, want] of cases) {
      it(`${name}: iTP ${itp}`, async () => {
        const slice = makeTestEndpointSlice(
          'ns1',
          'svc1',
          1,
          endpoints.map(([ip, node]) => ({ addresses: [ip], nodeName: node, conditions: { ready: true } })),
          [{ port: 80 }],
        );
        const fp = await run(
          [
            svc('svc1', (s) => {
              s.spec.clusterIP = '198.19.17.1';
              s.spec.internalTrafficPolicy = itp;
              s.spec.ports = [{ port: 80, protocol: 'TCP' }];
            }),
          ],
          [slice],
          endpoints.filter(([, node]) => node === L).map(([ip]) => ip),
        );
        assert.deepEqual(frontends(fp), want === undefined ? {} : { '198.19.17.1:80/TCP': want });
        // G5: the slice goes, and with it the load balancer.
        fp.proxier.onEndpointSliceDelete(slice);
        await fp.sync();
        assert.deepEqual(frontends(fp), {});
      });
    }
  });

  const terminating = (eTP: 'Local' | 'Cluster', endpoints: [string, string, ReturnType<typeof R>][]) =>
    run(
      [
        svc('svc1', (s) => {
          s.spec.type = 'LoadBalancer';
          s.spec.clusterIP = '198.19.17.1';
          s.spec.externalTrafficPolicy = eTP;
          if (eTP === 'Local') s.spec.healthCheckNodePort = 30000;
          s.spec.ports = [{ port: 80, protocol: 'TCP', targetPort: 80 }];
          s.status.loadBalancer = { ingress: [{ ip: '198.19.200.4' }] };
        }),
      ],
      [
        eps(
          'svc1',
          endpoints.map(([ip, node, conditions]) => ({ addresses: [ip], nodeName: node, conditions })),
        ),
      ],
      endpoints.filter(([, node]) => node === L).map(([ip]) => ip),
    );
  const RST = R(true, true, false);
  const nRST = R(false, true, true);
  const nRnST = R(false, false, true);

  it('H1/H2: eTP Local, ready endpoints win over terminating ones', async () => {
    const fp = await terminating('Local', [
      ['198.18.10.1', L, RST],
      ['198.18.10.2', L, RST],
      ['198.18.10.3', L, nRST],
      ['198.18.10.4', L, nRnST],
      ['198.18.10.5', 'node-1', RST],
    ]);
    assert.deepEqual(frontends(fp), {
      '198.19.17.1:80/TCP': ['198.18.10.1:80', '198.18.10.2:80', '198.18.10.5:80'], // H1
      '198.19.200.4:80/TCP': ['198.18.10.1:80', '198.18.10.2:80'], // H2
    });
  });

  it('H3/H4: eTP Local, only terminating local endpoints: the ingress IP falls back to the serving ones', async () => {
    const fp = await terminating('Local', [
      ['198.18.10.2', L, nRST],
      ['198.18.10.3', L, nRST],
      ['198.18.10.4', L, nRnST],
      ['198.18.10.5', 'node-1', RST],
    ]);
    assert.deepEqual(frontends(fp), {
      // §3d H3 has the ClusterIP reach only the ready .5; winkernel decides the fallback once for the
      // whole service (all local endpoints terminating), so its ClusterIP also gets the serving ones.
      '198.19.17.1:80/TCP': ['198.18.10.2:80', '198.18.10.3:80', '198.18.10.5:80'],
      '198.19.200.4:80/TCP': ['198.18.10.2:80', '198.18.10.3:80'], // H4
    });
  });

  it('H5/H6: eTP Local, only a remote serving-terminating endpoint: ClusterIP only', async () => {
    const fp = await terminating('Local', [['198.18.10.5', 'node-1', nRST]]);
    assert.deepEqual(frontends(fp), { '198.19.17.1:80/TCP': ['198.18.10.5:80'] }); // H5; H6 has no load balancer
  });

  it('H7: eTP Local, nothing serving (winkernel keeps the non-serving endpoint where §3d rejects)', async () => {
    const fp = await terminating('Local', [['198.18.10.5', L, nRnST]]);
    // Upstream's winkernel stops filtering when no endpoint serves at all.
    assert.deepEqual(frontends(fp), {
      '198.19.17.1:80/TCP': ['198.18.10.5:80'],
      '198.19.200.4:80/TCP': ['198.18.10.5:80'],
    });
  });

  it('I1–I3: eTP Cluster, terminating fallback for every frontend', async () => {
    let fp = await terminating('Cluster', [
      ['198.18.10.1', L, RST],
      ['198.18.10.2', L, RST],
      ['198.18.10.3', 'another', nRST],
      ['198.18.10.4', 'another', nRnST],
      ['198.18.10.5', 'another', RST],
    ]);
    const I1 = ['198.18.10.1:80', '198.18.10.2:80', '198.18.10.5:80'];
    assert.deepEqual(frontends(fp), { '198.19.17.1:80/TCP': I1, '198.19.200.4:80/TCP': I1 });
    fp = await terminating('Cluster', [
      ['198.18.10.2', L, nRST],
      ['198.18.10.3', L, nRST],
      ['198.18.10.4', 'another', nRnST],
      ['198.18.10.5', 'another', nRST],
    ]);
    const I2 = ['198.18.10.2:80', '198.18.10.3:80', '198.18.10.5:80'];
    assert.deepEqual(frontends(fp), { '198.19.17.1:80/TCP': I2, '198.19.200.4:80/TCP': I2 });
    fp = await terminating('Cluster', [['198.18.10.5', 'node-1', nRST]]);
    assert.deepEqual(frontends(fp), {
      '198.19.17.1:80/TCP': ['198.18.10.5:80'],
      '198.19.200.4:80/TCP': ['198.18.10.5:80'],
    });
  });

  it('ClientIP affinity: every frontend distributes by source IP', async () => {
    const fp = await run(
      [
        svc('svc1', (s) => {
          s.spec.type = 'NodePort';
          s.spec.clusterIP = '198.19.16.45';
          s.spec.sessionAffinity = 'ClientIP';
          s.spec.sessionAffinityConfig = { clientIP: { timeoutSeconds: 10800 } };
          s.spec.ports = [{ name: 'p80', port: 80, protocol: 'TCP', nodePort: 3002 }];
        }),
      ],
      [eps('svc1', [{ addresses: ['198.18.180.3'] }], [{ name: 'p80', port: 80 }])],
      [],
    );
    const lbs = fp.hcn.loadBalancers();
    assert.equal(lbs.length, 2);
    for (const lb of lbs) assert.equal(lb.PortMappings![0]!.DistributionType, 2);
  });
});
