// Upstream's packet-flow cases (§3d groups A, C, E, F, H, I, J, see test/kernel/README.md), shared
// by its nftables and iptables tests, re-addressed as in test/README.md and traced through the
// rules each mode's proxier generates (once per mode in FAKE_BACKENDS).
import assert from 'node:assert/strict';
import { describe } from 'node:test';
import type { EndpointSlice, Service, SliceEndpoint } from '../../../src/model/k8s.ts';
import {
  type FakeBackendFactory,
  type FakeBackendOverrides,
  testEachMode,
} from '../../support/fake-backends.ts';
import { markSyncedAndSync } from '../../support/fake-proxier.ts';
import {
  BLOCKED_CLIENT as BLK,
  EXTERNAL_CLIENT as EXT,
  ep,
  NODE_IP as NODE,
  NODE_NAME,
  POD_IP as POD,
  service,
  slice,
} from '../../support/fixtures.ts';
import { assertFlows, overrideRows, type Row } from '../../support/flow-table.ts';

/** The addresses the tracer treats as local to the node (`fib … type local`), as upstream's testNodeIPs. */
const NODE_IPS = [NODE, '198.19.1.2', '198.19.99.11'];

async function check(
  fb: FakeBackendFactory,
  services: Service[],
  slices: EndpointSlice[],
  rows: Row[],
  opts: FakeBackendOverrides = {},
) {
  const fp = fb.make(opts);
  for (const s of services) fp.proxier.onServiceAdd(s);
  for (const s of slices) fp.proxier.onEndpointSliceAdd(s);
  await markSyncedAndSync(fp.proxier);
  assertFlows(fp.tracer(NODE_IPS), rows);
  return fp;
}

const lb = (
  extra: Partial<NonNullable<Service['spec']>>,
  lbIPs: string[],
  nodePort = 3001,
  clusterIP = '198.19.16.41',
) =>
  service(
    'ns1',
    'svc1',
    {
      type: 'LoadBalancer',
      clusterIP,
      ports: [{ name: 'p80', port: 80, protocol: 'TCP', nodePort }],
      ...extra,
    },
    { loadBalancer: { ingress: lbIPs.map((ip) => ({ ip })) } },
  );

describe('A: no endpoints are rejected everywhere', () => {
  testEachMode('A1–A6', async (fb) => {
    await check(
      fb,
      [lb({ externalIPs: ['198.19.99.11'] }, ['198.19.200.4'])],
      [],
      [
        ['A1 pod to cluster IP', POD, '198.19.16.41', 80, 'REJECT'],
        ['A2 external to external IP', EXT, '198.19.99.11', 80, 'REJECT'],
        ['A3 pod to NodePort', POD, NODE, 3001, 'REJECT'],
        ['A4 external to NodePort', EXT, NODE, 3001, 'REJECT'],
        ['A5 pod to LoadBalancer IP', POD, '198.19.200.4', 80, 'REJECT'],
        ['A6 external to LoadBalancer IP', EXT, '198.19.200.4', 80, 'REJECT'],
      ],
    );
  });
});

describe('C: LoadBalancer source ranges', () => {
  testEachMode('C1–C13', async (fb) => {
    const EP = '198.18.180.1:80';
    await check(
      fb,
      [
        lb({ loadBalancerSourceRanges: ['198.19.0.0/24', ' 198.19.100.0/25'] }, [
          '198.19.200.4',
          '198.19.200.8',
        ]),
      ],
      [slice('ns1', 'svc1', 's1', [{ name: 'p80', port: 80 }], [ep('198.18.180.1')])],
      [
        ['C1 pod to cluster IP', POD, '198.19.16.41', 80, EP],
        ['C2 external to nodePort', EXT, NODE, 3001, EP, true],
        ['C3 nodePort bypasses LoadBalancerSourceRanges', BLK, NODE, 3001, EP, true],
        ['C4 accepted external to LB1', EXT, '198.19.200.4', 80, EP, true],
        ['C5 accepted external to LB2', EXT, '198.19.200.8', 80, EP, true],
        ['C6 blocked external to LB1', BLK, '198.19.200.4', 80, 'DROP'],
        ['C7 blocked external to LB2', BLK, '198.19.200.8', 80, 'DROP'],
        ['C8 pod to LB1 (blocked by source ranges)', POD, '198.19.200.4', 80, 'DROP'],
        ['C9 pod to LB2 (blocked by source ranges)', POD, '198.19.200.8', 80, 'DROP'],
        ['C10 node to LB1 (allowed by source ranges)', NODE, '198.19.200.4', 80, EP, true],
        ['C11 node to LB2 (allowed by source ranges)', NODE, '198.19.200.8', 80, EP, true],
        ['C12 same node to LB1, SNATted to LB1', '198.19.200.4', '198.19.200.4', 80, EP, true],
        ['C13 same node to LB2, SNATted to LB2', '198.19.200.8', '198.19.200.8', 80, EP, true],
      ],
    );
  });
});

const policyFixture = (etp: 'Local' | 'Cluster') => ({
  services: [
    lb(
      {
        externalTrafficPolicy: etp,
        externalIPs: ['198.19.99.11'],
        ...(etp === 'Local' && { healthCheckNodePort: 30000 }),
      },
      ['198.19.200.4'],
    ),
  ],
  slices: [
    slice(
      'ns1',
      'svc1',
      's1',
      [{ name: 'p80', port: 80 }],
      [ep('198.18.180.1'), ep('198.18.182.1', NODE_NAME)],
    ),
  ],
});
const BOTH = '198.18.180.1:80, 198.18.182.1:80';
const LOCAL = '198.18.182.1:80';

describe('E: externalTrafficPolicy Local', () => {
  testEachMode('E1–E7', async (fb) => {
    const f = policyFixture('Local');
    await check(fb, f.services, f.slices, [
      ['E1 pod to cluster IP hits both endpoints', POD, '198.19.16.41', 80, BOTH],
      ['E2 pod to external IP hits both endpoints', POD, '198.19.99.11', 80, BOTH],
      ['E3 external to external IP hits only local endpoint', EXT, '198.19.99.11', 80, LOCAL],
      ['E4 pod to LB IP hits both endpoints', POD, '198.19.200.4', 80, BOTH],
      ['E5 external to LB IP hits only local endpoint', EXT, '198.19.200.4', 80, LOCAL],
      ['E6 pod to NodePort hits both endpoints', POD, NODE, 3001, BOTH],
      ['E7 external to NodePort hits only local endpoint', EXT, NODE, 3001, LOCAL],
    ]);
  });
});

describe('F: externalTrafficPolicy Cluster', () => {
  testEachMode('F1–F7', async (fb) => {
    const f = policyFixture('Cluster');
    await check(fb, f.services, f.slices, [
      ['F1 pod to cluster IP', POD, '198.19.16.41', 80, BOTH],
      ['F2 pod to external IP', POD, '198.19.99.11', 80, BOTH, true],
      ['F3 external to external IP', EXT, '198.19.99.11', 80, BOTH, true],
      ['F4 pod to LB IP', POD, '198.19.200.4', 80, BOTH, true],
      ['F5 external to LB IP', EXT, '198.19.200.4', 80, BOTH, true],
      ['F6 pod to NodePort', POD, NODE, 3001, BOTH, true],
      ['F7 external to NodePort', EXT, NODE, 3001, BOTH, true],
    ]);
  });
});

// Conditions written as in upstream's tables: R ready, S serving, T terminating, on this node or another.
const cond = (r: boolean, s: boolean, t: boolean) => ({ ready: r, serving: s, terminating: t });
const at = (ip: string, c: ReturnType<typeof cond>, nodeName: string): SliceEndpoint => ep(ip, nodeName, c);

function terminatingCases(etp: 'Local' | 'Cluster') {
  const svc = lb(
    { externalTrafficPolicy: etp, ...(etp === 'Local' && { healthCheckNodePort: 30000 }) },
    ['198.19.200.4'],
    0,
    '198.19.17.1',
  );
  const mk = (eps: SliceEndpoint[]) => [slice('ns1', 'svc1', 's1', [{ name: 'p80', port: 80 }], eps)];
  return { svc, mk };
}

describe('H: terminating endpoints with externalTrafficPolicy Local', () => {
  const { svc, mk } = terminatingCases('Local');
  const L = NODE_NAME;
  const cases: [string, SliceEndpoint[], string, string][] = [
    [
      'H1/H2',
      [
        at('198.18.10.1', cond(true, true, false), L),
        at('198.18.10.2', cond(true, true, false), L),
        at('198.18.10.3', cond(false, true, true), L),
        at('198.18.10.4', cond(false, false, true), L),
        at('198.18.10.5', cond(true, true, false), 'node-1'),
      ],
      '198.18.10.1:80, 198.18.10.2:80, 198.18.10.5:80',
      '198.18.10.1:80, 198.18.10.2:80',
    ],
    [
      'H3/H4',
      [
        at('198.18.10.2', cond(false, true, true), L),
        at('198.18.10.3', cond(false, true, true), L),
        at('198.18.10.4', cond(false, false, true), L),
        at('198.18.10.5', cond(true, true, false), 'node-1'),
      ],
      '198.18.10.5:80',
      '198.18.10.2:80, 198.18.10.3:80',
    ],
    ['H5/H6', [at('198.18.10.5', cond(false, true, true), 'node-1')], '198.18.10.5:80', 'DROP'],
    [
      'H7',
      [at('198.18.10.5', cond(false, false, true), L), at('198.18.10.5', cond(false, false, true), 'node-1')],
      'REJECT',
      'REJECT',
    ],
  ];
  for (const [name, eps, fromPod, fromExt] of cases) {
    testEachMode(name, async (fb) => {
      await check(fb, [svc], mk(eps), [
        [`${name} pod to clusterIP`, POD, '198.19.17.1', 80, fromPod],
        [`${name} external to LB`, EXT, '198.19.200.4', 80, fromExt],
      ]);
    });
  }
  testEachMode('H8 after the slice is deleted', async (fb) => {
    const fp = await check(fb, [svc], mk([at('198.18.10.1', cond(true, true, false), L)]), []);
    fp.proxier.onEndpointSliceDelete(mk([])[0]!);
    await fp.proxier.syncProxyRules();
    const t = fp.tracer(NODE_IPS);
    assert.equal(t.trace({ sourceIP: POD, destIP: '198.19.17.1', destPort: 80 }).output, 'REJECT');
    assert.equal(t.trace({ sourceIP: EXT, destIP: '198.19.200.4', destPort: 80 }).output, 'REJECT');
  });
});

describe('I: terminating endpoints with externalTrafficPolicy Cluster', () => {
  const { svc, mk } = terminatingCases('Cluster');
  const L = NODE_NAME;
  const cases: [string, SliceEndpoint[], string][] = [
    [
      'I1',
      [
        at('198.18.10.1', cond(true, true, false), L),
        at('198.18.10.2', cond(true, true, false), L),
        at('198.18.10.3', cond(false, true, true), 'another'),
        at('198.18.10.4', cond(false, false, true), 'another'),
        at('198.18.10.5', cond(true, true, false), 'another'),
      ],
      '198.18.10.1:80, 198.18.10.2:80, 198.18.10.5:80',
    ],
    [
      'I2',
      [
        at('198.18.10.2', cond(false, true, true), L),
        at('198.18.10.3', cond(false, true, true), L),
        at('198.18.10.4', cond(false, false, true), 'another'),
        at('198.18.10.5', cond(false, true, true), 'another'),
      ],
      '198.18.10.2:80, 198.18.10.3:80, 198.18.10.5:80',
    ],
    ['I3', [at('198.18.10.5', cond(false, true, true), 'node-1')], '198.18.10.5:80'],
    [
      'I4',
      [at('198.18.10.5', cond(false, false, true), L), at('198.18.10.5', cond(false, false, true), 'node-1')],
      'REJECT',
    ],
  ];
  for (const [name, eps, out] of cases) {
    testEachMode(name, async (fb) => {
      await check(fb, [svc], mk(eps), [
        [`${name} pod to clusterIP`, POD, '198.19.17.1', 80, out],
        [`${name} external to LB`, EXT, '198.19.200.4', 80, out, out !== 'REJECT'],
      ]);
    });
  }
});

describe('J: internal and external masquerading', () => {
  const svcs = [
    service(
      'ns1',
      'svc1',
      {
        type: 'LoadBalancer',
        clusterIP: '198.19.16.41',
        healthCheckNodePort: 30001,
        ports: [{ name: 'p80', port: 80, nodePort: 3001 }],
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } },
    ),
    service(
      'ns2',
      'svc2',
      {
        type: 'LoadBalancer',
        clusterIP: '198.19.16.42',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 30002,
        ports: [{ name: 'p80', port: 80, nodePort: 3002 }],
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.8' }] } },
    ),
    service(
      'ns3',
      'svc3',
      {
        type: 'LoadBalancer',
        clusterIP: '198.19.16.43',
        internalTrafficPolicy: 'Local',
        healthCheckNodePort: 30003,
        ports: [{ name: 'p80', port: 80, nodePort: 3003 }],
      },
      { loadBalancer: { ingress: [{ ip: '198.19.200.12' }] } },
    ),
  ];
  const slices = [1, 2, 3].map((n) =>
    slice(
      `ns${n}`,
      `svc${n}`,
      `s${n}`,
      [{ name: 'p80', port: 80 }],
      [ep(`198.18.180.${n}`, NODE_NAME), ep(`198.18.181.${n}`, 'remote')],
    ),
  );
  const S = (n: number) => `198.18.180.${n}:80, 198.18.181.${n}:80`;
  const base: Row[] = [
    ['J1 pod to ClusterIP', POD, '198.19.16.41', 80, S(1)],
    ['J2 pod to NodePort', POD, NODE, 3001, S(1), true],
    ['J3 pod to LB', POD, '198.19.200.4', 80, S(1), true],
    ['J4 node to ClusterIP', NODE, '198.19.16.41', 80, S(1), true],
    ['J5 node to NodePort', NODE, NODE, 3001, S(1), true],
    ['J6 node to LB', NODE, '198.19.200.4', 80, S(1), true],
    ['J7 external to ClusterIP', EXT, '198.19.16.41', 80, S(1), true],
    ['J8 external to NodePort', EXT, NODE, 3001, S(1), true],
    ['J9 external to LB', EXT, '198.19.200.4', 80, S(1), true],
    ['J10 pod to ClusterIP with eTP:Local', POD, '198.19.16.42', 80, S(2)],
    ['J11 pod to NodePort with eTP:Local', POD, NODE, 3002, S(2)],
    ['J12 pod to LB with eTP:Local', POD, '198.19.200.8', 80, S(2)],
    ['J13 node to ClusterIP with eTP:Local', NODE, '198.19.16.42', 80, S(2), true],
    ['J14 node to NodePort with eTP:Local (upstream uses port 3001)', NODE, NODE, 3001, S(1), true],
    ['J15 node to LB with eTP:Local', NODE, '198.19.200.8', 80, S(2), true],
    ['J16 external to ClusterIP with eTP:Local', EXT, '198.19.16.42', 80, S(2), true],
    ['J17 external to NodePort with eTP:Local', EXT, NODE, 3002, '198.18.180.2:80'],
    ['J18 external to LB with eTP:Local', EXT, '198.19.200.8', 80, '198.18.180.2:80'],
    ['J19 pod to ClusterIP with iTP:Local', POD, '198.19.16.43', 80, '198.18.180.3:80'],
    ['J20 pod to NodePort with iTP:Local', POD, NODE, 3003, S(3), true],
    ['J21 pod to LB with iTP:Local', POD, '198.19.200.12', 80, S(3), true],
    ['J22 node to ClusterIP with iTP:Local', NODE, '198.19.16.43', 80, '198.18.180.3:80', true],
    ['J23 node to NodePort with iTP:Local', NODE, NODE, 3003, S(3), true],
    ['J24 node to LB with iTP:Local', NODE, '198.19.200.12', 80, S(3), true],
    ['J25 external to ClusterIP with iTP:Local', EXT, '198.19.16.43', 80, '198.18.180.3:80', true],
    ['J26 external to NodePort with iTP:Local', EXT, NODE, 3003, S(3), true],
    ['J27 external to LB with iTP:Local', EXT, '198.19.200.12', 80, S(3), true],
  ];
  const noDetector = {
    J4: { masq: false },
    J13: { masq: false },
    J22: { masq: false },
    J7: { masq: false },
    J16: { masq: false },
    J25: { masq: false },
    J11: { output: '198.18.180.2:80' },
    J12: { output: '198.18.180.2:80' },
  };
  const masqAll = { J1: { masq: true }, J10: { masq: true }, J19: { masq: true } };
  // iptables mode also routes localhost to NodePorts (--iptables-localhost-nodeports, on in
  // upstream's fake): upstream's iptables table has these three extra rows, unchanged by any variant.
  const localhostRows: Row[] = [
    ['J5b localhost to NodePort', '127.0.0.1', '127.0.0.1', 3001, S(1), true],
    ['J14b localhost to NodePort with eTP:Local', '127.0.0.1', '127.0.0.1', 3002, S(2), true],
    ['J23b localhost to NodePort with iTP:Local', '127.0.0.1', '127.0.0.1', 3003, S(3), true],
  ];
  const rows = (fb: FakeBackendFactory, r: Row[]) => (fb.mode === 'iptables' ? [...r, ...localhostRows] : r);
  testEachMode('base case', async (fb) => {
    await check(fb, svcs, slices, rows(fb, base));
  });
  testEachMode('without a local detector', async (fb) => {
    await check(fb, svcs, slices, rows(fb, overrideRows(base, noDetector)), { podCIDR: null });
  });
  testEachMode('masqueradeAll', async (fb) => {
    await check(fb, svcs, slices, rows(fb, overrideRows(base, masqAll)), { masqueradeAll: true });
  });
  testEachMode('masqueradeAll without a local detector', async (fb) => {
    // masqueradeAll still masquerades node and external ClusterIP traffic; only the pod short-circuit goes.
    const shortCircuitGone = { J11: noDetector.J11, J12: noDetector.J12 };
    await check(fb, svcs, slices, rows(fb, overrideRows(base, { ...masqAll, ...shortCircuitGone })), {
      masqueradeAll: true,
      podCIDR: null,
    });
  });
});
