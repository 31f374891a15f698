import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../../src/log/logger.ts';
import type { Endpoint } from '../../../src/model/endpoint.ts';
import type {
  EndpointConditions,
  EndpointSlice,
  EndpointSlicePort,
  SliceEndpoint,
} from '../../../src/model/k8s.ts';
import { EndpointsChangeTracker, EndpointsMap } from '../../../src/tracking/endpoints-change-tracker.ts';

const HOST = 'node-a';
const START = new Date('2025-01-01T00:00:00Z');
const HTTP: EndpointSlicePort = { name: 'http', port: 8080, protocol: 'TCP' };
const DNS: EndpointSlicePort = { name: 'dns', port: 53, protocol: 'UDP' };

interface EpOpts {
  node?: string;
  ready?: boolean | null;
  serving?: boolean | null;
  terminating?: boolean | null;
  zones?: string[];
  nodes?: string[];
}

function ep(address: string | string[], o: EpOpts = {}): SliceEndpoint {
  const conditions: EndpointConditions = {};
  if ('ready' in o) conditions.ready = o.ready;
  if ('serving' in o) conditions.serving = o.serving;
  if ('terminating' in o) conditions.terminating = o.terminating;
  const e: SliceEndpoint = { addresses: Array.isArray(address) ? address : [address], conditions };
  if (o.node !== undefined) e.nodeName = o.node;
  if (o.zones || o.nodes) {
    e.hints = {};
    if (o.zones) e.hints.forZones = o.zones.map((name) => ({ name }));
    if (o.nodes) e.hints.forNodes = o.nodes.map((name) => ({ name }));
  }
  return e;
}

interface SliceOpts {
  service?: string | null;
  namespace?: string;
  addressType?: string;
  annotations?: Record<string, string>;
  resourceVersion?: string;
}

function slice(
  name: string,
  endpoints: SliceEndpoint[],
  ports: EndpointSlicePort[] = [HTTP],
  o: SliceOpts = {},
): EndpointSlice {
  const labels: Record<string, string> = {};
  const service = o.service === undefined ? 'svc' : o.service;
  if (service !== null) labels['kubernetes.io/service-name'] = service;
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: o.namespace ?? 'ns1',
      labels,
      ...(o.annotations && { annotations: o.annotations }),
      ...(o.resourceVersion && { resourceVersion: o.resourceVersion }),
    },
    addressType: o.addressType ?? 'IPv4',
    endpoints,
    ports,
  };
}

function setup(family: 'IPv4' | 'IPv6' = 'IPv4', hostname = HOST) {
  const lines: string[] = [];
  const logger = createLogger({ verbosity: 10, sink: (l) => lines.push(l) });
  const tracker = new EndpointsChangeTracker(hostname, family, logger, START);
  const map = new EndpointsMap();
  const add = (s: EndpointSlice) => tracker.endpointSliceUpdate(s, false);
  const remove = (s: EndpointSlice) => tracker.endpointSliceUpdate(s, true);
  const sync = () => map.apply(tracker.checkout());
  const keys = (spKey = 'ns1/svc:http/TCP') => map.get(spKey).map((e) => e.key);
  return { tracker, map, add, remove, sync, keys, lines };
}

function find(eps: readonly Endpoint[], key: string): Endpoint {
  const e = eps.find((x) => x.key === key);
  assert.ok(e, `endpoint ${key} not found in ${eps.map((x) => x.key).join(',')}`);
  return e;
}

describe('EndpointSlice to endpoints', () => {
  test('a slice becomes endpoints per ServicePort with ip, port, key and locality', () => {
    const { add, sync, map } = setup();
    assert.equal(
      add(
        slice('svc-1', [ep('10.0.0.1', { node: HOST }), ep('10.0.0.2', { node: 'node-b' }), ep('10.0.0.3')]),
      ),
      true,
    );
    const result = sync();
    assert.deepEqual([...result.updatedServices], ['ns1/svc']);
    const eps = map.get('ns1/svc:http/TCP');
    assert.deepEqual(
      eps.map((e) => [e.ip, e.port, e.key, e.isLocal]),
      [
        ['10.0.0.1', 8080, '10.0.0.1:8080', true],
        ['10.0.0.2', 8080, '10.0.0.2:8080', false],
        ['10.0.0.3', 8080, '10.0.0.3:8080', false],
      ],
    );
  });

  test('only addresses[0] is used', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-1', [ep(['10.0.0.1', '10.0.0.2'])]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.1:8080']);
  });

  test('endpoints with empty or missing addresses are skipped', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-1', [ep([]), { conditions: {} }, ep('10.0.0.5')]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.5:8080']);
  });

  test('invalid addresses and addresses of the other family are skipped', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-1', [ep('garbage'), ep('10.0.0.256'), ep('2001:db8::1'), ep('10.0.0.7')]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.7:8080']);
  });

  test('addresses are canonicalised (sloppy IPv4)', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-1', [ep('010.000.000.001')]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.1:8080']);
  });

  test('endpoints are sorted by the "ip:port" string', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-1', [ep('10.0.0.2'), ep('10.0.0.10'), ep('10.0.0.1'), ep('9.0.0.1')]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.10:8080', '10.0.0.1:8080', '10.0.0.2:8080', '9.0.0.1:8080']);
  });

  test('IPv6: canonical addresses, bracketed keys, sorted', () => {
    const { add, sync, keys } = setup('IPv6');
    assert.equal(
      add(
        slice('svc-1', [ep('2001:DB8::2'), ep('2001:db8:0::10'), ep('10.0.0.1')], [HTTP], {
          addressType: 'IPv6',
        }),
      ),
      true,
    );
    sync();
    assert.deepEqual(keys(), ['[2001:db8::10]:8080', '[2001:db8::2]:8080']);
  });

  describe('conditions', () => {
    const cases: [name: string, o: EpOpts, ready: boolean, serving: boolean, terminating: boolean][] = [
      ['all unset', {}, true, true, false],
      ['all null', { ready: null, serving: null, terminating: null }, true, true, false],
      ['ready', { ready: true, serving: true, terminating: false }, true, true, false],
      ['not ready', { ready: false }, false, true, false],
      ['not ready, not serving', { ready: false, serving: false }, false, false, false],
      ['terminating, serving', { ready: false, serving: true, terminating: true }, false, true, true],
      ['terminating, not serving', { ready: false, serving: false, terminating: true }, false, false, true],
      ['terminating, serving unset', { ready: false, terminating: true }, false, true, true],
    ];
    for (const [name, o, ready, serving, terminating] of cases) {
      test(name, () => {
        const { add, sync, map } = setup();
        add(slice('svc-1', [ep('10.0.0.1', o)]));
        sync();
        const e = find(map.get('ns1/svc:http/TCP'), '10.0.0.1:8080');
        assert.deepEqual(
          { ready: e.ready, serving: e.serving, terminating: e.terminating },
          { ready, serving, terminating },
        );
      });
    }
  });

  test('zone and node hints are read from the slice', () => {
    const { add, sync, map } = setup();
    add(
      slice('svc-1', [
        ep('10.0.0.1', { zones: ['zone-b', 'zone-a', ''], nodes: ['node-a'] }),
        ep('10.0.0.2'),
      ]),
    );
    sync();
    const [a, b] = map.get('ns1/svc:http/TCP');
    assert.deepEqual([...a!.zoneHints].sort(), ['zone-a', 'zone-b']);
    assert.deepEqual([...a!.nodeHints], ['node-a']);
    assert.equal(b!.zoneHints.size, 0);
    assert.equal(b!.nodeHints.size, 0);
  });

  test('isLocal is nodeName == hostname; an empty hostname makes nothing local', () => {
    const a = setup('IPv4', '');
    a.add(slice('svc-1', [ep('10.0.0.1', { node: '' }), ep('10.0.0.2')]));
    a.sync();
    assert.deepEqual(
      a.map.get('ns1/svc:http/TCP').map((e) => e.isLocal),
      [false, false],
    );
    const b = setup('IPv4', 'node-a');
    b.add(
      slice('svc-1', [
        ep('10.0.0.1', { node: 'node-a' }),
        ep('10.0.0.2', { node: 'node-a2' }),
        ep('10.0.0.3', { node: 'NODE-A' }),
      ]),
    );
    b.sync();
    assert.deepEqual(
      b.map.get('ns1/svc:http/TCP').map((e) => e.isLocal),
      [true, false, false],
    );
  });
});

describe('EndpointSlice ports', () => {
  test('every port of a slice gets the endpoints; protocol defaults to TCP', () => {
    const { add, sync, keys } = setup();
    add(
      slice(
        'svc-1',
        [ep('10.0.0.1')],
        [HTTP, DNS, { name: 'metrics', port: 9090 }, { name: '', port: 7000, protocol: 'TCP' }],
      ),
    );
    sync();
    assert.deepEqual(keys('ns1/svc:http/TCP'), ['10.0.0.1:8080']);
    assert.deepEqual(keys('ns1/svc:dns/UDP'), ['10.0.0.1:53']);
    assert.deepEqual(keys('ns1/svc:metrics/TCP'), ['10.0.0.1:9090']);
    assert.deepEqual(keys('ns1/svc/TCP'), ['10.0.0.1:7000']);
  });

  const ignored: [string, EndpointSlicePort][] = [
    ['nil name (undefined)', { port: 80, protocol: 'TCP' }],
    ['nil name (null)', { name: null, port: 80, protocol: 'TCP' }],
    ['nil port (undefined)', { name: 'x' }],
    ['nil port (null)', { name: 'x', port: null }],
    ['port 0', { name: 'x', port: 0 }],
    ['port out of range', { name: 'x', port: 70000 }],
    ['invalid name', { name: 'X Y', port: 80 }],
    ['unsupported protocol', { name: 'x', port: 80, protocol: 'ICMP' }],
  ];
  for (const [name, port] of ignored) {
    test(`a port with ${name} is ignored, the other ports still apply`, () => {
      const { add, sync, map, keys } = setup();
      add(slice('svc-1', [ep('10.0.0.1')], [port, HTTP]));
      sync();
      assert.deepEqual(keys(), ['10.0.0.1:8080']);
      // Nothing but the valid port is present for the service.
      for (const k of ['ns1/svc/TCP', 'ns1/svc:x/TCP', 'ns1/svc:x/ICMP']) assert.deepEqual(map.get(k), []);
    });
  }

  test('a slice with only ignored ports yields no endpoints', () => {
    const { add, sync, map } = setup();
    add(slice('svc-1', [ep('10.0.0.1')], [{ name: 'x', port: 0 }]));
    sync();
    assert.deepEqual(map.localReadyEndpoints(), new Map());
    assert.deepEqual(map.get('ns1/svc:x/TCP'), []);
  });
});

describe('which slices are used', () => {
  test('slices of the other address family or FQDN are ignored', () => {
    const v4 = setup('IPv4');
    assert.equal(v4.add(slice('svc-1', [ep('2001:db8::1')], [HTTP], { addressType: 'IPv6' })), false);
    assert.equal(v4.add(slice('svc-2', [ep('example.com')], [HTTP], { addressType: 'FQDN' })), false);
    assert.equal(v4.tracker.pendingCount, 0);
    const v6 = setup('IPv6');
    assert.equal(v6.add(slice('svc-1', [ep('10.0.0.1')], [HTTP], { addressType: 'IPv4' })), false);
    assert.equal(v6.add(slice('svc-2', [ep('example.com')], [HTTP], { addressType: 'FQDN' })), false);
  });

  test('slices without a usable kubernetes.io/service-name label are ignored', () => {
    const { add, tracker, lines } = setup();
    assert.equal(add(slice('orphan', [ep('10.0.0.1')], [HTTP], { service: null })), false);
    assert.equal(add(slice('orphan2', [ep('10.0.0.1')], [HTTP], { service: '' })), false);
    assert.equal(add(slice('orphan3', [ep('10.0.0.1')], [HTTP], { service: 'Bad Name' })), false);
    assert.equal(tracker.pendingCount, 0);
    assert.ok(lines.some((l) => l.includes('orphan')));
  });

  test('slices with invalid names or namespaces are ignored', () => {
    const { add, tracker } = setup();
    assert.equal(add(slice('Bad_Slice', [ep('10.0.0.1')])), false);
    assert.equal(add(slice('ok', [ep('10.0.0.1')], [HTTP], { namespace: 'Bad NS' })), false);
    assert.equal(tracker.pendingCount, 0);
  });

  test('slices are keyed by namespace: same names in two namespaces are independent', () => {
    const { add, remove, sync, keys } = setup();
    add(slice('svc-1', [ep('10.0.0.1')], [HTTP], { namespace: 'a' }));
    add(slice('svc-1', [ep('10.0.0.2')], [HTTP], { namespace: 'b' }));
    sync();
    assert.deepEqual(keys('a/svc:http/TCP'), ['10.0.0.1:8080']);
    assert.deepEqual(keys('b/svc:http/TCP'), ['10.0.0.2:8080']);
    remove(slice('svc-1', [], [HTTP], { namespace: 'a' }));
    sync();
    assert.deepEqual(keys('a/svc:http/TCP'), []);
    assert.deepEqual(keys('b/svc:http/TCP'), ['10.0.0.2:8080']);
  });
});

describe('merging slices of one service', () => {
  test('endpoints of all slices are merged and sorted', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-b', [ep('10.0.0.3'), ep('10.0.0.1')]));
    add(slice('svc-a', [ep('10.0.0.2')]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  });

  for (const [terminatingSlice, readySlice] of [
    ['svc-a', 'svc-b'],
    ['svc-b', 'svc-a'],
  ] as const) {
    test(`a duplicate ip:port prefers the non-terminating endpoint (terminating in ${terminatingSlice})`, () => {
      const { add, sync, map } = setup();
      add(slice(terminatingSlice, [ep('10.0.0.1', { ready: false, serving: true, terminating: true })]));
      add(slice(readySlice, [ep('10.0.0.1', { ready: true, node: HOST })]));
      sync();
      const eps = map.get('ns1/svc:http/TCP');
      assert.equal(eps.length, 1);
      assert.deepEqual(
        { ready: eps[0]!.ready, terminating: eps[0]!.terminating, isLocal: eps[0]!.isLocal },
        { ready: true, terminating: false, isLocal: true },
      );
    });
  }

  test('the same ip with different ports in two slices are two endpoints', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-a', [ep('10.0.0.1')], [{ name: 'http', port: 8080 }]));
    add(slice('svc-b', [ep('10.0.0.1')], [{ name: 'http', port: 8081 }]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.1:8080', '10.0.0.1:8081']);
  });

  test('an endpoint moving between two slices in one sync stays', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-a', [ep('10.0.0.1'), ep('10.0.0.2')]));
    add(slice('svc-b', [ep('10.0.0.3')]));
    sync();
    // The controller moves 10.0.0.2 from svc-a to svc-b: the two updates can arrive in either order.
    add(slice('svc-a', [ep('10.0.0.1')], [HTTP], { resourceVersion: '2' }));
    add(slice('svc-b', [ep('10.0.0.2'), ep('10.0.0.3')], [HTTP], { resourceVersion: '2' }));
    sync();
    assert.deepEqual(keys(), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  });

  test('an endpoint moving between slices stays when the add is synced before the removal', () => {
    const { add, sync, keys } = setup();
    add(slice('svc-a', [ep('10.0.0.1'), ep('10.0.0.2')]));
    sync();
    add(slice('svc-b', [ep('10.0.0.2')]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.1:8080', '10.0.0.2:8080']);
    add(slice('svc-a', [ep('10.0.0.1')]));
    sync();
    assert.deepEqual(keys(), ['10.0.0.1:8080', '10.0.0.2:8080']);
  });
});

describe('changes', () => {
  test('a no-op update (same content, new resourceVersion) is not counted', () => {
    const { add, sync, tracker } = setup();
    add(slice('svc-1', [ep('10.0.0.1')], [HTTP], { resourceVersion: '1' }));
    sync();
    assert.equal(add(slice('svc-1', [ep('10.0.0.1')], [HTTP], { resourceVersion: '2' })), false);
    assert.equal(tracker.pendingCount, 0);
    assert.equal(sync().updatedServices.size, 0);
  });

  test('endpoint and port order within a slice does not matter', () => {
    const { add, sync } = setup();
    add(slice('svc-1', [ep('10.0.0.1'), ep('10.0.0.2')], [HTTP, DNS]));
    sync();
    assert.equal(add(slice('svc-1', [ep('10.0.0.2'), ep('10.0.0.1')], [DNS, HTTP])), false);
  });

  test('a second identical pending update is not counted again', () => {
    const { add } = setup();
    assert.equal(add(slice('svc-1', [ep('10.0.0.1')])), true);
    assert.equal(add(slice('svc-1', [ep('10.0.0.1')])), false);
  });

  test('a condition change is a change', () => {
    const { add, sync, map } = setup();
    add(slice('svc-1', [ep('10.0.0.1')]));
    sync();
    assert.equal(
      add(slice('svc-1', [ep('10.0.0.1', { ready: false, serving: true, terminating: true })])),
      true,
    );
    assert.deepEqual([...sync().updatedServices], ['ns1/svc']);
    assert.equal(map.get('ns1/svc:http/TCP')[0]!.terminating, true);
  });

  test('removing one slice keeps the others', () => {
    const { add, remove, sync, keys } = setup();
    add(slice('svc-a', [ep('10.0.0.1')]));
    add(slice('svc-b', [ep('10.0.0.2')]));
    sync();
    assert.equal(remove(slice('svc-a', [ep('10.0.0.1')])), true);
    assert.deepEqual([...sync().updatedServices], ['ns1/svc']);
    assert.deepEqual(keys(), ['10.0.0.2:8080']);
  });

  test('removing the last slice removes the ServicePorts', () => {
    const { add, remove, sync, map } = setup();
    add(slice('svc-a', [ep('10.0.0.1', { node: HOST })], [HTTP, DNS]));
    sync();
    remove(slice('svc-a', []));
    const r = sync();
    assert.deepEqual([...r.updatedServices], ['ns1/svc']);
    assert.deepEqual(map.get('ns1/svc:http/TCP'), []);
    assert.deepEqual(map.get('ns1/svc:dns/UDP'), []);
    assert.deepEqual(map.localReadyEndpoints(), new Map());
  });

  test('removing an unknown slice is not a change', () => {
    const { remove, tracker } = setup();
    assert.equal(remove(slice('nope', [ep('10.0.0.1')])), false);
    assert.equal(tracker.pendingCount, 0);
  });

  test('add then remove before a sync leaves nothing', () => {
    const { add, remove, sync, map } = setup();
    add(slice('svc-a', [ep('10.0.0.1')]));
    assert.equal(remove(slice('svc-a', [ep('10.0.0.1')])), true);
    const r = sync();
    assert.equal(r.updatedServices.size, 0);
    assert.deepEqual(map.get('ns1/svc:http/TCP'), []);
  });

  test('pendingCount counts services with pending changes', () => {
    const { add, tracker } = setup();
    add(slice('a-1', [ep('10.0.0.1')], [HTTP], { service: 'a' }));
    add(slice('a-2', [ep('10.0.0.2')], [HTTP], { service: 'a' }));
    add(slice('b-1', [ep('10.0.0.3')], [HTTP], { service: 'b' }));
    assert.equal(tracker.pendingCount, 2);
    tracker.checkout();
    assert.equal(tracker.pendingCount, 0);
  });

  test('updatedServices lists exactly the services whose endpoints changed', () => {
    const { add, sync } = setup();
    add(slice('a-1', [ep('10.0.0.1')], [HTTP], { service: 'a' }));
    add(slice('b-1', [ep('10.0.0.2')], [HTTP], { service: 'b' }));
    assert.deepEqual([...sync().updatedServices].sort(), ['ns1/a', 'ns1/b']);
    add(slice('b-1', [ep('10.0.0.3')], [HTTP], { service: 'b' }));
    assert.deepEqual([...sync().updatedServices], ['ns1/b']);
  });
});

describe('conntrackCleanupRequired', () => {
  const cases: [
    name: string,
    before: EndpointSlicePort[] | undefined,
    after: EndpointSlicePort[] | undefined,
    want: boolean,
  ][] = [
    ['new UDP service', undefined, [DNS], true],
    ['new TCP service', undefined, [HTTP], false],
    ['UDP service removed', [DNS], undefined, true],
    ['TCP service removed', [HTTP], undefined, false],
    ['UDP port replaced by TCP', [DNS], [HTTP], true],
    ['TCP port replaced by UDP', [HTTP], [DNS], true],
    ['SCTP only', undefined, [{ name: 's', port: 9, protocol: 'SCTP' }], false],
  ];
  for (const [name, before, after, want] of cases) {
    test(name, () => {
      const { add, remove, sync } = setup();
      if (before) {
        add(slice('svc-1', [ep('10.0.0.1')], before));
        sync();
      }
      if (after) add(slice('svc-1', [ep('10.0.0.2')], after));
      else remove(slice('svc-1', []));
      assert.equal(sync().conntrackCleanupRequired, want);
    });
  }

  test('an endpoint change in a UDP service requires cleanup; in another TCP service it does not', () => {
    const { add, sync } = setup();
    add(slice('dns-1', [ep('10.0.0.1')], [DNS], { service: 'dns' }));
    add(slice('web-1', [ep('10.0.0.2')], [HTTP], { service: 'web' }));
    sync();
    add(slice('web-1', [ep('10.0.0.3')], [HTTP], { service: 'web' }));
    assert.equal(sync().conntrackCleanupRequired, false);
    add(slice('dns-1', [ep('10.0.0.4')], [DNS], { service: 'dns' }));
    assert.equal(sync().conntrackCleanupRequired, true);
  });

  test('no change, no cleanup', () => {
    const { add, sync } = setup();
    add(slice('dns-1', [ep('10.0.0.1')], [DNS]));
    sync();
    assert.equal(sync().conntrackCleanupRequired, false);
  });
});

describe('last-change-trigger-time', () => {
  const ANN = 'endpoints.kubernetes.io/last-change-trigger-time';
  const at = (iso: string) => ({ annotations: { [ANN]: iso } });

  test('collected only when after the tracker start', () => {
    const { add, sync } = setup();
    add(slice('a-1', [ep('10.0.0.1')], [HTTP], { service: 'a', ...at('2025-01-01T00:00:01Z') }));
    add(slice('b-1', [ep('10.0.0.2')], [HTTP], { service: 'b', ...at('2024-12-31T23:59:59Z') }));
    add(slice('c-1', [ep('10.0.0.3')], [HTTP], { service: 'c', ...at(START.toISOString()) }));
    add(slice('d-1', [ep('10.0.0.4')], [HTTP], { service: 'd', ...at('not a time') }));
    add(slice('e-1', [ep('10.0.0.5')], [HTTP], { service: 'e' }));
    const r = sync();
    assert.deepEqual(
      [...r.lastChangeTriggerTimes].map(([k, v]) => [k, v.map((d) => d.toISOString())]),
      [['ns1/a', ['2025-01-01T00:00:01.000Z']]],
    );
    assert.equal(r.updatedServices.size, 5);
  });

  test('times of several updates to a service accumulate until the sync, then reset', () => {
    const { add, sync } = setup();
    add(slice('a-1', [ep('10.0.0.1')], [HTTP], { service: 'a', ...at('2025-01-01T00:00:01Z') }));
    add(slice('a-2', [ep('10.0.0.2')], [HTTP], { service: 'a', ...at('2025-01-01T00:00:02.5Z') }));
    const r = sync();
    assert.deepEqual(
      r.lastChangeTriggerTimes.get('ns1/a')?.map((d) => d.getTime()),
      [Date.parse('2025-01-01T00:00:01Z'), Date.parse('2025-01-01T00:00:02.5Z')],
    );
    assert.equal(sync().lastChangeTriggerTimes.size, 0);
  });

  test('not collected for a no-op update', () => {
    const { add, sync } = setup();
    add(slice('a-1', [ep('10.0.0.1')], [HTTP], { service: 'a' }));
    sync();
    add(slice('a-1', [ep('10.0.0.1')], [HTTP], { service: 'a', ...at('2025-01-01T00:00:05Z') }));
    assert.equal(sync().lastChangeTriggerTimes.size, 0);
  });

  test('removing a slice drops the times collected for its service', () => {
    const { add, remove, sync } = setup();
    add(slice('a-1', [ep('10.0.0.1')], [HTTP], { service: 'a' }));
    add(slice('b-1', [ep('10.0.0.9')], [HTTP], { service: 'b' }));
    sync();
    add(slice('a-2', [ep('10.0.0.2')], [HTTP], { service: 'a', ...at('2025-01-01T00:00:05Z') }));
    add(slice('b-1', [ep('10.0.0.8')], [HTTP], { service: 'b', ...at('2025-01-01T00:00:06Z') }));
    remove(slice('a-1', [], [HTTP], { service: 'a', ...at('2025-01-01T00:00:07Z') }));
    const r = sync();
    assert.deepEqual([...r.lastChangeTriggerTimes.keys()], ['ns1/b']);
  });
});

describe('localReadyEndpoints', () => {
  test('counts distinct local ready IPs per service', () => {
    const { add, sync, map } = setup();
    add(
      slice(
        'a-1',
        [
          ep('10.0.0.1', { node: HOST }),
          ep('10.0.0.2', { node: HOST }),
          ep('10.0.0.3', { node: 'node-b' }),
          ep('10.0.0.4', { node: HOST, ready: false, serving: false }),
          ep('10.0.0.5', { node: HOST, ready: false, serving: true, terminating: true }),
        ],
        [HTTP, DNS],
        { service: 'a' },
      ),
    );
    add(slice('a-2', [ep('10.0.0.1', { node: HOST })], [{ name: 'alt', port: 9000 }], { service: 'a' }));
    add(slice('b-1', [ep('10.0.1.1', { node: HOST })], [HTTP], { service: 'b' }));
    add(slice('c-1', [ep('10.0.2.1', { node: 'node-b' })], [HTTP], { service: 'c' }));
    add(
      slice('d-1', [ep('10.0.3.1', { node: HOST, ready: false, serving: true, terminating: true })], [HTTP], {
        service: 'd',
      }),
    );
    sync();
    assert.deepEqual([...map.localReadyEndpoints()].sort(), [
      ['ns1/a', 2],
      ['ns1/b', 1],
    ]);
  });

  test('unnamed ports are attributed to their service', () => {
    const { add, sync, map } = setup();
    add(slice('a-1', [ep('10.0.0.1', { node: HOST })], [{ name: '', port: 80 }], { service: 'a' }));
    sync();
    assert.deepEqual([...map.localReadyEndpoints()], [['ns1/a', 1]]);
  });
});
