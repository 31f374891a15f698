// Table cases ported from upstream pkg/proxy/topology_test.go TestCategorizeEndpoints
// (hints, PreferSameNode, traffic policies, terminating fallback), plus a few edge cases.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Endpoint } from '../../../src/model/endpoint.ts';
import {
  type ServicePort,
  usesClusterEndpoints,
  usesLocalEndpoints,
} from '../../../src/model/service-port.ts';
import { categorizeEndpoints, topologyModeFromHints } from '../../../src/topology/categorize-endpoints.ts';

interface EpOpts {
  local?: boolean;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  zones?: string[];
  nodes?: string[];
}

/** Endpoint "ip:port"; like upstream's BaseEndpointInfo literal, unset conditions are false. */
function ep(key: string, o: EpOpts = {}): Endpoint {
  const [ip = '', port = '0'] = key.split(':');
  return {
    ip,
    port: Number(port),
    key,
    isLocal: o.local ?? false,
    ready: o.ready ?? false,
    serving: o.serving ?? false,
    terminating: o.terminating ?? false,
    zoneHints: new Set(o.zones ?? []),
    nodeHints: new Set(o.nodes ?? []),
  };
}

/** A ready+serving endpoint, as makeTestEndpointInfo(ip, port, isLocal, true, true, false, zones, nodes). */
function ready(key: string, o: Omit<EpOpts, 'ready'> = {}): Endpoint {
  return ep(key, { serving: true, ...o, ready: true });
}

function sp(
  o: {
    nodePort?: number;
    eLocal?: boolean;
    iLocal?: boolean;
    lbVIPs?: string[];
    externalIPs?: string[];
  } = {},
): ServicePort {
  return {
    name: { namespace: 'ns', name: 'svc', port: 'http', protocol: 'TCP' },
    key: 'ns/svc:http/TCP',
    clusterIP: '10.96.0.1',
    port: 80,
    protocol: 'TCP',
    nodePort: o.nodePort ?? 0,
    sessionAffinityClientIP: false,
    stickyMaxAgeSeconds: 0,
    externalIPs: o.externalIPs ?? [],
    loadBalancerVIPs: o.lbVIPs ?? [],
    loadBalancerSourceRanges: [],
    healthCheckNodePort: 0,
    externalPolicyLocal: o.eLocal ?? false,
    internalPolicyLocal: o.iLocal ?? false,
  };
}

interface Case {
  name: string;
  preferSameDisabled?: boolean;
  nodeName?: string;
  zone?: string;
  sp: ServicePort;
  endpoints: Endpoint[];
  /** null: the port does not use this kind of endpoints ("nil" upstream). */
  cluster: string[] | null;
  local: string[] | null;
  /** Needed only when both cluster and local are used. */
  all?: string[];
  /** hasAnyEndpoints is true although allReachableEndpoints is empty. */
  onlyRemote?: boolean;
}

const zoneEps = (zones: string[], o: Omit<EpOpts, 'ready' | 'zones'> = {}) =>
  zones.map((z, i) => ready(`10.1.2.${i + 3}:80`, { ...o, zones: [z] }));

const cases: Case[] = [
  {
    name: 'topology used: all endpoints have hints and some are for this zone',
    zone: 'zone-a',
    sp: sp(),
    endpoints: zoneEps(['zone-a', 'zone-b', 'zone-c', 'zone-a']),
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'eTP Local: topology ignored for Local endpoints',
    zone: 'zone-a',
    sp: sp({ nodePort: 8080, eLocal: true }),
    endpoints: [
      ready('10.1.2.3:80', { local: true, zones: ['zone-a'] }),
      ready('10.1.2.4:80', { local: true, zones: ['zone-b'] }),
      ready('10.1.2.5:80', { zones: ['zone-c'] }),
      ready('10.1.2.6:80', { zones: ['zone-a'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: ['10.1.2.3:80', '10.1.2.4:80'],
    all: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'],
  },
  {
    name: 'iTP Local: topology ignored for Local endpoints',
    zone: 'zone-a',
    sp: sp({ nodePort: 8080, iLocal: true }),
    endpoints: [
      ready('10.1.2.3:80', { local: true, zones: ['zone-a'] }),
      ready('10.1.2.4:80', { local: true, zones: ['zone-b'] }),
      ready('10.1.2.5:80', { zones: ['zone-c'] }),
      ready('10.1.2.6:80', { zones: ['zone-a'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: ['10.1.2.3:80', '10.1.2.4:80'],
    all: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'],
  },
  {
    name: 'empty zone label: no filtering',
    zone: '',
    sp: sp(),
    endpoints: [ready('10.1.2.3:80', { zones: ['zone-a'] })],
    cluster: ['10.1.2.3:80'],
    local: null,
  },
  {
    name: 'node in a zone no endpoint is hinted for: no filtering',
    zone: 'zone-b',
    sp: sp(),
    endpoints: [ready('10.1.2.3:80', { zones: ['zone-a'] }), ready('10.1.2.5:80', { zones: ['zone-c'] })],
    cluster: ['10.1.2.3:80', '10.1.2.5:80'],
    local: null,
  },
  {
    name: 'unready endpoint is not used',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'] }),
      ready('10.1.2.5:80', { zones: ['zone-c'] }),
      ep('10.1.2.6:80', { serving: true, zones: ['zone-a'] }),
    ],
    cluster: ['10.1.2.3:80'],
    local: null,
  },
  {
    name: 'only unready endpoints in this zone: topology not used',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ep('10.1.2.3:80', { serving: true, zones: ['zone-a'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'] }),
      ready('10.1.2.5:80', { zones: ['zone-c'] }),
      ep('10.1.2.6:80', { serving: true, zones: ['zone-a'] }),
    ],
    cluster: ['10.1.2.4:80', '10.1.2.5:80'],
    local: null,
  },
  {
    name: 'partial hints (one ready endpoint unhinted): hints ignored',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'] }),
      ready('10.1.2.5:80'),
      ready('10.1.2.6:80', { zones: ['zone-a'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.5:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'an unhinted endpoint that is not ready does not disable topology',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'] }),
      ep('10.1.2.5:80'),
    ],
    cluster: ['10.1.2.3:80'],
    local: null,
  },
  {
    name: 'multiple hints per endpoint: any endpoint hinted for this zone',
    zone: 'zone-c',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a', 'zone-b', 'zone-c'] }),
      ready('10.1.2.4:80', { zones: ['zone-b', 'zone-c'] }),
      ready('10.1.2.5:80', { zones: ['zone-b', 'zone-d'] }),
      ready('10.1.2.6:80', { zones: ['zone-c'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'conflicting topology and localness require merging allEndpoints',
    zone: 'zone-a',
    sp: sp({ nodePort: 8080, eLocal: true }),
    endpoints: [
      ready('10.0.0.0:80', { local: true, zones: ['zone-a'] }),
      ready('10.0.0.1:80', { local: true, zones: ['zone-b'] }),
      ready('10.0.0.2:80', { zones: ['zone-a'] }),
      ready('10.0.0.3:80', { zones: ['zone-b'] }),
    ],
    cluster: ['10.0.0.0:80', '10.0.0.2:80'],
    local: ['10.0.0.0:80', '10.0.0.1:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80', '10.0.0.2:80'],
  },
  {
    name: 'PreferSameNode falls back to same zone when the feature gate is disabled',
    preferSameDisabled: true,
    nodeName: 'node-1',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'], nodes: ['node-1'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'], nodes: ['node-2'] }),
      ready('10.1.2.5:80', { zones: ['zone-c'], nodes: ['node-3'] }),
      ready('10.1.2.6:80', { zones: ['zone-a'], nodes: ['node-4'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'PreferSameNode available',
    nodeName: 'node-1',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'], nodes: ['node-1'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'], nodes: ['node-2'] }),
      ready('10.1.2.5:80', { zones: ['zone-c'], nodes: ['node-3'] }),
      ready('10.1.2.6:80', { zones: ['zone-a'], nodes: ['node-4'] }),
    ],
    cluster: ['10.1.2.3:80'],
    local: null,
  },
  {
    name: 'PreferSameNode ignored if some endpoints are unhinted',
    nodeName: 'node-1',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'], nodes: ['node-1'] }),
      ready('10.1.2.4:80'),
      ready('10.1.2.5:80', { zones: ['zone-c'], nodes: ['node-3'] }),
      ready('10.1.2.6:80', { zones: ['zone-a'], nodes: ['node-4'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.4:80', '10.1.2.5:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'PreferSameNode ignored if one endpoint lacks node hints; zone hints still apply',
    nodeName: 'node-1',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'], nodes: ['node-1'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'] }),
      ready('10.1.2.6:80', { zones: ['zone-a'], nodes: ['node-4'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'PreferSameNode falls back to PreferSameZone if no endpoint is hinted for this node',
    nodeName: 'node-0',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'], nodes: ['node-1'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'], nodes: ['node-2'] }),
      ready('10.1.2.5:80', { zones: ['zone-c'], nodes: ['node-3'] }),
      ready('10.1.2.6:80', { zones: ['zone-a'], nodes: ['node-4'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.6:80'],
    local: null,
  },
  {
    name: 'PreferSameNode falls back to no topology if nothing is hinted for this node or zone',
    nodeName: 'node-0',
    zone: 'zone-z',
    sp: sp(),
    endpoints: [
      ready('10.1.2.3:80', { zones: ['zone-a'], nodes: ['node-1'] }),
      ready('10.1.2.4:80', { zones: ['zone-b'], nodes: ['node-2'] }),
    ],
    cluster: ['10.1.2.3:80', '10.1.2.4:80'],
    local: null,
  },
  {
    name: 'iTP Local with no endpoints',
    sp: sp({ iLocal: true }),
    endpoints: [],
    cluster: null,
    local: [],
  },
  {
    name: 'iTP Local, all endpoints remote',
    sp: sp({ iLocal: true }),
    endpoints: [ready('10.0.0.0:80'), ready('10.0.0.1:80')],
    cluster: null,
    local: [],
    onlyRemote: true,
  },
  {
    name: 'iTP Local, all endpoints local',
    sp: sp({ iLocal: true }),
    endpoints: [ready('10.0.0.0:80', { local: true }), ready('10.0.0.1:80', { local: true })],
    cluster: null,
    local: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP Local, some endpoints local',
    sp: sp({ iLocal: true }),
    endpoints: [ready('10.0.0.0:80', { local: true }), ready('10.0.0.1:80')],
    cluster: null,
    local: ['10.0.0.0:80'],
  },
  {
    name: 'Cluster policy, no endpoint ready or serving',
    sp: sp(),
    endpoints: [ep('10.0.0.0:80'), ep('10.0.0.1:80')],
    cluster: [],
    local: null,
  },
  {
    name: 'Cluster policy, some endpoints ready',
    sp: sp(),
    endpoints: [ep('10.0.0.0:80'), ready('10.0.0.1:80')],
    cluster: ['10.0.0.1:80'],
    local: null,
  },
  {
    name: 'Cluster policy, all endpoints terminating and serving: fall back to them',
    sp: sp(),
    endpoints: [
      ep('10.0.0.0:80', { serving: true, terminating: true, local: true }),
      ep('10.0.0.1:80', { serving: true, terminating: true }),
    ],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: null,
  },
  {
    name: 'Cluster policy, ready endpoints exist: terminating ones are not used',
    sp: sp(),
    endpoints: [ready('10.0.0.0:80'), ep('10.0.0.1:80', { serving: true, terminating: true })],
    cluster: ['10.0.0.0:80'],
    local: null,
  },
  {
    name: 'Cluster policy, terminating but not serving endpoints are never used',
    sp: sp(),
    endpoints: [
      ep('10.0.0.0:80', { terminating: true }),
      ep('10.0.0.1:80', { serving: true, terminating: true }),
    ],
    cluster: ['10.0.0.1:80'],
    local: null,
  },
  {
    name: 'Cluster policy, terminating fallback ignores topology',
    zone: 'zone-a',
    sp: sp(),
    endpoints: [
      ep('10.0.0.0:80', { serving: true, terminating: true, zones: ['zone-a'] }),
      ep('10.0.0.1:80', { serving: true, terminating: true, zones: ['zone-b'] }),
    ],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: null,
  },
  {
    name: 'iTP Local, eTP Cluster, some endpoints local',
    sp: sp({ nodePort: 8080, iLocal: true }),
    endpoints: [ready('10.0.0.0:80', { local: true }), ready('10.0.0.1:80')],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.0:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP Cluster, eTP Local, some endpoints local',
    sp: sp({ nodePort: 8080, eLocal: true }),
    endpoints: [ready('10.0.0.0:80', { local: true }), ready('10.0.0.1:80')],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.0:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP Local, eTP Local, some endpoints local',
    sp: sp({ nodePort: 8080, iLocal: true, eLocal: true }),
    endpoints: [ready('10.0.0.0:80', { local: true }), ready('10.0.0.1:80')],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.0:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP Local, eTP Local, all endpoints remote',
    sp: sp({ nodePort: 8080, iLocal: true, eLocal: true }),
    endpoints: [ready('10.0.0.0:80'), ready('10.0.0.1:80')],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: [],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'iTP Local, eTP Local, all endpoints remote and terminating',
    sp: sp({ nodePort: 8080, iLocal: true, eLocal: true }),
    endpoints: [
      ep('10.0.0.0:80', { serving: true, terminating: true }),
      ep('10.0.0.1:80', { serving: true, terminating: true }),
    ],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: [],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
    onlyRemote: true,
  },
  {
    name: 'iTP Cluster, eTP Local, with terminating endpoints: local falls back to serving-terminating',
    sp: sp({ nodePort: 8080, eLocal: true }),
    endpoints: [
      ready('10.0.0.0:80'),
      ep('10.0.0.1:80', { local: true }),
      ep('10.0.0.2:80', { serving: true, terminating: true, local: true }),
      ep('10.0.0.3:80', { serving: true, terminating: true }),
    ],
    cluster: ['10.0.0.0:80'],
    local: ['10.0.0.2:80'],
    all: ['10.0.0.0:80', '10.0.0.2:80'],
  },
  {
    name: 'local ready endpoints win over local terminating ones',
    sp: sp({ iLocal: true }),
    endpoints: [
      ready('10.0.0.0:80', { local: true }),
      ep('10.0.0.1:80', { serving: true, terminating: true, local: true }),
    ],
    cluster: null,
    local: ['10.0.0.0:80'],
  },
  {
    name: 'iTP Local: local serving-terminating endpoints when no local one is ready',
    sp: sp({ iLocal: true }),
    endpoints: [
      ready('10.0.0.0:80'),
      ep('10.0.0.1:80', { serving: true, terminating: true, local: true }),
      ep('10.0.0.2:80', { terminating: true, local: true }),
    ],
    cluster: null,
    local: ['10.0.0.1:80'],
  },
  {
    name: 'iTP Local: local endpoints neither ready nor serving-terminating are not used and count for nothing',
    sp: sp({ iLocal: true }),
    endpoints: [ep('10.0.0.0:80', { local: true }), ep('10.0.0.1:80', { local: true, terminating: true })],
    cluster: null,
    local: [],
  },
  {
    name: 'eTP Local ignored if not externally accessible',
    sp: sp({ eLocal: true }),
    endpoints: [ready('10.0.0.0:80'), ready('10.0.0.1:80', { local: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: null,
  },
  {
    name: 'eTP Local counts as externally accessible through LB VIPs alone',
    sp: sp({ eLocal: true, lbVIPs: ['198.51.100.1'] }),
    endpoints: [ready('10.0.0.0:80'), ready('10.0.0.1:80', { local: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.1:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'eTP Local counts as externally accessible through externalIPs alone',
    sp: sp({ eLocal: true, externalIPs: ['203.0.113.10'] }),
    endpoints: [ready('10.0.0.0:80'), ready('10.0.0.1:80', { local: true })],
    cluster: ['10.0.0.0:80', '10.0.0.1:80'],
    local: ['10.0.0.1:80'],
    all: ['10.0.0.0:80', '10.0.0.1:80'],
  },
  {
    name: 'no cluster endpoints for an iTP Local internal-only service',
    sp: sp({ iLocal: true }),
    endpoints: [ready('10.0.0.0:80'), ready('10.0.0.1:80', { local: true })],
    cluster: null,
    local: ['10.0.0.1:80'],
  },
];

const keys = (eps: readonly Endpoint[]) => eps.map((e) => e.key).sort();

describe('categorizeEndpoints (upstream TestCategorizeEndpoints)', () => {
  for (const c of cases) {
    test(c.name, () => {
      const got = categorizeEndpoints(c.endpoints, c.sp, c.nodeName ?? 'test-node', c.zone ?? '', {
        preferSameTrafficDistribution: !c.preferSameDisabled,
      });
      assert.equal(usesClusterEndpoints(c.sp), c.cluster !== null, 'usesClusterEndpoints');
      assert.equal(usesLocalEndpoints(c.sp), c.local !== null, 'usesLocalEndpoints');
      assert.deepEqual(keys(got.clusterEndpoints), [...(c.cluster ?? [])].sort(), 'clusterEndpoints');
      assert.deepEqual(keys(got.localEndpoints), [...(c.local ?? [])].sort(), 'localEndpoints');
      const all = c.cluster === null ? c.local : c.local === null ? c.cluster : c.all;
      assert.ok(all, 'test case must give all when both kinds are used');
      assert.deepEqual(keys(got.allReachableEndpoints), [...all].sort(), 'allReachableEndpoints');
      assert.equal(got.hasAnyEndpoints, all.length > 0 || c.onlyRemote === true, 'hasAnyEndpoints');
    });
  }

  test('allReachableEndpoints is a sorted union without duplicates', () => {
    const got = categorizeEndpoints(
      [
        ready('10.0.0.2:80', { local: true, zones: ['zone-b'] }),
        ready('10.0.0.10:80', { zones: ['zone-a'] }),
        ready('10.0.0.1:80', { local: true, zones: ['zone-a'] }),
      ],
      sp({ nodePort: 30080, eLocal: true }),
      'n',
      'zone-a',
    );
    assert.deepEqual(
      got.allReachableEndpoints.map((e) => e.key),
      ['10.0.0.10:80', '10.0.0.1:80', '10.0.0.2:80'],
    );
  });

  test('endpoints keep their input order within clusterEndpoints and localEndpoints', () => {
    const input = [
      ready('10.0.0.3:80', { local: true }),
      ready('10.0.0.1:80', { local: true }),
      ready('10.0.0.2:80'),
    ];
    const got = categorizeEndpoints(input, sp({ nodePort: 30080, eLocal: true }), 'n', '');
    assert.deepEqual(
      got.clusterEndpoints.map((e) => e.key),
      ['10.0.0.3:80', '10.0.0.1:80', '10.0.0.2:80'],
    );
    assert.deepEqual(
      got.localEndpoints.map((e) => e.key),
      ['10.0.0.3:80', '10.0.0.1:80'],
    );
  });
});

describe('topologyModeFromHints', () => {
  const hinted = [
    ready('10.0.0.1:80', { zones: ['zone-a'], nodes: ['node-1'] }),
    ready('10.0.0.2:80', { zones: ['zone-b'], nodes: ['node-2'] }),
  ];
  const cases: [
    name: string,
    endpoints: Endpoint[],
    node: string,
    zone: string,
    gate: boolean,
    want: string,
  ][] = [
    ['node and zone hints, node matches', hinted, 'node-1', 'zone-a', true, 'PreferSameNode'],
    ['node and zone hints, gate off', hinted, 'node-1', 'zone-a', false, 'PreferSameZone'],
    ['node hints do not match, zone does', hinted, 'node-9', 'zone-b', true, 'PreferSameZone'],
    ['nothing matches', hinted, 'node-9', 'zone-z', true, ''],
    ['no endpoints', [], 'node-1', 'zone-a', true, ''],
    [
      'only unready endpoints',
      [ep('10.0.0.1:80', { zones: ['zone-a'], nodes: ['node-1'] })],
      'node-1',
      'zone-a',
      true,
      '',
    ],
    [
      'zone hints only',
      [ready('10.0.0.1:80', { zones: ['zone-a'] })],
      'node-1',
      'zone-a',
      true,
      'PreferSameZone',
    ],
    [
      'node hints only',
      [ready('10.0.0.1:80', { nodes: ['node-1'] })],
      'node-1',
      'zone-a',
      true,
      'PreferSameNode',
    ],
    [
      'node hints only, gate off',
      [ready('10.0.0.1:80', { nodes: ['node-1'] })],
      'node-1',
      'zone-a',
      false,
      '',
    ],
    ['empty zone never matches', [ready('10.0.0.1:80', { zones: ['zone-a'] })], 'node-1', '', true, ''],
  ];
  for (const [name, endpoints, node, zone, gate, want] of cases) {
    test(name, () => {
      assert.equal(
        topologyModeFromHints(endpoints, node, zone, { preferSameTrafficDistribution: gate }),
        want,
      );
    });
  }

  test('the PreferSameTrafficDistribution gate is on by default', () => {
    assert.equal(topologyModeFromHints(hinted, 'node-1', 'zone-a'), 'PreferSameNode');
  });
});
