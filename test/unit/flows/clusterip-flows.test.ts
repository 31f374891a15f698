// Packet-flow tests for ClusterIP services: upstream's TestClusterIPGeneral (group B), the
// ClusterIP rows of TestNoEndpointsReject (A1) and TestInternalTrafficPolicy (group G),
// re-addressed as described in test/README.md, traced through the rules of each mode in
// FAKE_BACKENDS (upstream runs these in both its nftables and iptables tests).
import { describe } from 'node:test';
import {
  type FakeBackendFactory,
  type FakeBackendOverrides,
  testEachMode,
} from '../../support/fake-backends.ts';
import { markSyncedAndSync } from '../../support/fake-proxier.ts';
import { ep, NODE_NAME, POD_IP, service, slice } from '../../support/fixtures.ts';
import { assertFlows } from '../../support/flow-table.ts';

describe('ClusterIP general (upstream group B)', () => {
  testEachMode('flows', async (fb) => {
    const fp = fb.make();
    const p = fp.proxier;
    p.onServiceAdd(
      service('ns1', 'svc1', {
        clusterIP: '198.19.16.41',
        ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      }),
    );
    p.onServiceAdd(
      service('ns2', 'svc2', {
        clusterIP: '198.19.16.42',
        ports: [
          { name: 'http', port: 80, protocol: 'TCP' },
          { name: 'https', port: 443, protocol: 'TCP', targetPort: 8443 },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 5353 },
          { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
        ],
      }),
    );
    p.onEndpointSliceAdd(
      slice('ns1', 'svc1', 'svc1-1', [{ name: 'http', port: 80 }], [ep('198.18.180.1', NODE_NAME)]),
    );
    p.onEndpointSliceAdd(
      slice(
        'ns2',
        'svc2',
        'svc2-1',
        [
          { name: 'http', port: 80 },
          { name: 'https', port: 8443 },
          { name: 'dns-udp', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 5353 },
          { name: 'dns-sctp', port: 53, protocol: 'SCTP' },
        ],
        [ep('198.18.180.1', NODE_NAME), ep('198.18.182.1', 'node2')],
      ),
    );
    await markSyncedAndSync(p);
    // Where a service IP matches but no port does, nftables REJECTs (its services-by-IP check)
    // while iptables has no rule at all; the unallocated-ClusterIP DROP is nftables only.
    const unmatchedPort = fb.mode === 'nftables' ? 'REJECT' : '';
    assertFlows(fp.tracer(), [
      {
        name: 'B1 simple clusterIP',
        src: '198.18.180.2',
        dst: '198.19.16.41',
        port: 80,
        output: '198.18.180.1:80',
      },
      {
        name: 'B2 hairpin to cluster IP',
        src: '198.18.180.1',
        dst: '198.19.16.41',
        port: 80,
        output: '198.18.180.1:80',
        masq: true,
      },
      {
        name: 'B3 clusterIP with multiple endpoints',
        src: '198.18.180.2',
        dst: '198.19.16.42',
        port: 80,
        output: '198.18.180.1:80, 198.18.182.1:80',
      },
      {
        name: 'B4 clusterIP with TargetPort',
        src: '198.18.180.2',
        dst: '198.19.16.42',
        port: 443,
        output: '198.18.180.1:8443, 198.18.182.1:8443',
      },
      {
        name: 'B5 TCP on a port shared by TCP, UDP and SCTP',
        src: '198.18.180.2',
        dst: '198.19.16.42',
        port: 53,
        output: '198.18.180.1:5353, 198.18.182.1:5353',
      },
      {
        name: 'B6 UDP on the shared port',
        src: '198.18.180.2',
        proto: 'udp',
        dst: '198.19.16.42',
        port: 53,
        output: '198.18.180.1:53, 198.18.182.1:53',
      },
      {
        name: 'B7 SCTP on the shared port',
        src: '198.18.180.2',
        proto: 'sctp',
        dst: '198.19.16.42',
        port: 53,
        output: '198.18.180.1:53, 198.18.182.1:53',
      },
      {
        name: 'B8 TCP-only port does not match UDP traffic',
        src: '198.18.180.2',
        proto: 'udp',
        dst: '198.19.16.42',
        port: 80,
        output: unmatchedPort,
      },
      {
        name: "B9 svc1 does not accept svc2's ports",
        src: '198.18.180.2',
        dst: '198.19.16.41',
        port: 443,
        output: unmatchedPort,
      },
      {
        name: 'B10 packet to unallocated cluster ip',
        src: '198.18.180.2',
        dst: '198.19.16.50',
        port: 80,
        output: fb.mode === 'nftables' ? 'DROP' : '',
      },
      {
        name: 'off-cluster client is masqueraded',
        src: '198.19.100.2',
        dst: '198.19.16.41',
        port: 80,
        output: '198.18.180.1:80',
        masq: true,
      },
      {
        name: 'address outside the service CIDR is not ours',
        src: '198.18.180.2',
        dst: '198.19.40.1',
        port: 80,
        output: '',
      },
    ]);
  });
});

describe('no endpoints (upstream A1)', () => {
  testEachMode('pod to cluster IP with no endpoints is rejected', async (fb) => {
    const fp = fb.make();
    fp.proxier.onServiceAdd(
      service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: [{ name: 'p80', port: 80 }] }),
    );
    await markSyncedAndSync(fp.proxier);
    assertFlows(fp.tracer(), [{ name: 'A1', src: POD_IP, dst: '198.19.16.41', port: 80, output: 'REJECT' }]);
  });
});

describe('internalTrafficPolicy (upstream group G)', () => {
  const cases: { name: string; itp: 'Cluster' | 'Local'; eps: [string, string][]; output: string }[] = [
    {
      name: 'G1 iTP Cluster',
      itp: 'Cluster',
      eps: [
        ['198.18.10.1', NODE_NAME],
        ['198.18.10.2', 'node1'],
        ['198.18.10.3', 'node2'],
      ],
      output: '198.18.10.1:80, 198.18.10.2:80, 198.18.10.3:80',
    },
    {
      name: 'G2 iTP Local',
      itp: 'Local',
      eps: [
        ['198.18.10.1', NODE_NAME],
        ['198.18.10.2', 'node1'],
        ['198.18.10.3', 'node2'],
      ],
      output: '198.18.10.1:80',
    },
    {
      name: 'G3 iTP Local, two local',
      itp: 'Local',
      eps: [
        ['198.18.10.1', NODE_NAME],
        ['198.18.10.2', NODE_NAME],
        ['198.18.10.3', 'node2'],
      ],
      output: '198.18.10.1:80, 198.18.10.2:80',
    },
    {
      name: 'G4 iTP Local, none local',
      itp: 'Local',
      eps: [
        ['198.18.10.1', 'node0'],
        ['198.18.10.2', 'node1'],
        ['198.18.10.3', 'node2'],
      ],
      output: 'DROP',
    },
  ];
  for (const c of cases) {
    testEachMode(c.name, async (fb) => {
      const fp = fb.make();
      const p = fp.proxier;
      p.onServiceAdd(
        service('ns1', 'svc1', {
          clusterIP: '198.19.17.1',
          internalTrafficPolicy: c.itp,
          ports: [{ port: 80, protocol: 'TCP' }],
        }),
      );
      const s = slice(
        'ns1',
        'svc1',
        'svc1-1',
        [{ name: '', port: 80 }],
        c.eps.map(([ip, n]) => ep(ip, n, { ready: true })),
      );
      p.onEndpointSliceAdd(s);
      await markSyncedAndSync(p);
      assertFlows(fp.tracer(), [
        { name: c.name, src: POD_IP, dst: '198.19.17.1', port: 80, output: c.output },
      ]);
      // G5: once the slice is gone, the service has no endpoints at all: REJECT.
      p.onEndpointSliceDelete(s);
      await p.syncProxyRules();
      assertFlows(fp.tracer(), [
        {
          name: `${c.name} then deleted`,
          src: POD_IP,
          dst: '198.19.17.1',
          port: 80,
          output: 'REJECT',
        },
      ]);
    });
  }
});

describe('masquerade modes', () => {
  const build = async (fb: FakeBackendFactory, opts: FakeBackendOverrides) => {
    const fp = fb.make(opts);
    fp.proxier.onServiceAdd(
      service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: [{ name: 'p80', port: 80 }] }),
    );
    fp.proxier.onEndpointSliceAdd(
      slice('ns1', 'svc1', 's1', [{ name: 'p80', port: 80 }], [ep('198.18.180.1', 'node2')]),
    );
    await markSyncedAndSync(fp.proxier);
    return fp;
  };
  testEachMode('masqueradeAll masquerades pod traffic too', async (fb) => {
    assertFlows((await build(fb, { masqueradeAll: true })).tracer(), [
      {
        name: 'pod',
        src: POD_IP,
        dst: '198.19.16.41',
        port: 80,
        output: '198.18.180.1:80',
        masq: true,
      },
    ]);
  });
  testEachMode('without a local detector ClusterIP traffic is never masqueraded', async (fb) => {
    assertFlows((await build(fb, { podCIDR: null })).tracer(), [
      {
        name: 'external',
        src: '198.19.100.2',
        dst: '198.19.16.41',
        port: 80,
        output: '198.18.180.1:80',
        masq: false,
      },
    ]);
  });
});
