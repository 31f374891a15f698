import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createLogger } from '../../../src/log/logger.ts';
import type { Service, ServiceSpec } from '../../../src/model/k8s.ts';
import { ServiceChangeTracker, ServicePortMap } from '../../../src/tracking/service-change-tracker.ts';

function svc(name: string, spec: ServiceSpec = {}, resourceVersion = '1', namespace = 'ns1'): Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace, resourceVersion },
    spec: {
      clusterIP: '10.96.0.10',
      clusterIPs: ['10.96.0.10'],
      ipFamilies: ['IPv4'],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      ...spec,
    },
  };
}

function setup() {
  const lines: string[] = [];
  const logger = createLogger({ verbosity: 4, sink: (l) => lines.push(l) });
  const tracker = new ServiceChangeTracker('IPv4', logger);
  const map = new ServicePortMap();
  const sync = () => map.apply(tracker.checkout());
  return { tracker, map, sync, lines };
}

describe('ServiceChangeTracker', () => {
  test('an add is pending until checkout, and applying it fills the map', () => {
    const { tracker, map, sync } = setup();
    assert.equal(tracker.update(undefined, svc('web')), true);
    assert.equal(tracker.pendingCount, 1);
    const changes = tracker.checkout();
    assert.equal(tracker.pendingCount, 0);
    assert.deepEqual([...changes.keys()], ['ns1/web']);
    const change = changes.get('ns1/web')!;
    assert.deepEqual(change.previous, []);
    assert.deepEqual(
      change.current.map((p) => p.key),
      ['ns1/web:http/TCP'],
    );
    assert.deepEqual([...map.apply(changes)], ['ns1/web']);
    assert.equal(map.get('ns1/web:http/TCP')?.clusterIP, '10.96.0.10');
    assert.equal(map.size, 1);
    assert.deepEqual([...sync()], [], 'nothing pending after checkout');
  });

  test('add then delete before a sync cancels out', () => {
    const { tracker, sync, map } = setup();
    const s = svc('web');
    assert.equal(tracker.update(undefined, s), true);
    assert.equal(tracker.update(s, undefined), false);
    assert.equal(tracker.pendingCount, 0);
    assert.equal(tracker.checkout().size, 0);
    assert.equal(sync().size, 0);
    assert.equal(map.size, 0);
  });

  test('an update to an identical spec records nothing', () => {
    const { tracker, sync } = setup();
    tracker.update(undefined, svc('web'));
    sync();
    // A new object with a new resourceVersion but the same spec.
    assert.equal(tracker.update(svc('web'), svc('web', {}, '2')), false);
    assert.equal(tracker.pendingCount, 0);
  });

  test('a change reverted before the sync records nothing', () => {
    const { tracker, sync } = setup();
    tracker.update(undefined, svc('web'));
    sync();
    const changed = svc('web', { ports: [{ name: 'http', port: 8080 }] }, '2');
    assert.equal(tracker.update(svc('web'), changed), true);
    assert.equal(tracker.update(changed, svc('web', {}, '3')), false);
    assert.equal(tracker.pendingCount, 0);
  });

  test('several updates accumulate into one change from the applied state to the newest', () => {
    const { tracker, map, sync } = setup();
    tracker.update(undefined, svc('web'));
    sync();
    const a = svc('web', { ports: [{ name: 'http', port: 81 }] }, '2');
    const b = svc('web', { ports: [{ name: 'https', port: 443 }] }, '3');
    tracker.update(svc('web'), a);
    tracker.update(a, b);
    const changes = tracker.checkout();
    assert.equal(changes.size, 1);
    const c = changes.get('ns1/web')!;
    assert.deepEqual(
      c.previous.map((p) => `${p.key}=${p.port}`),
      ['ns1/web:http/TCP=80'],
    );
    assert.deepEqual(
      c.current.map((p) => `${p.key}=${p.port}`),
      ['ns1/web:https/TCP=443'],
    );
    map.apply(changes);
    assert.equal(map.get('ns1/web:http/TCP'), undefined, 'the old port is removed');
    assert.equal(map.get('ns1/web:https/TCP')?.port, 443);
  });

  test('delete removes every port of the service', () => {
    const { tracker, map, sync } = setup();
    const s = svc('web', {
      ports: [
        { name: 'a', port: 1 },
        { name: 'b', port: 2, protocol: 'UDP' },
      ],
    });
    tracker.update(undefined, s);
    sync();
    assert.equal(map.size, 2);
    assert.equal(tracker.update(s, undefined), true);
    assert.deepEqual([...sync()], ['ns1/web']);
    assert.equal(map.size, 0);
  });

  test('an invalid update keeps the last good state; a later valid update applies from it', () => {
    const { tracker, map, sync, lines } = setup();
    const good = svc('web');
    tracker.update(undefined, good);
    sync();
    const bad = svc('web', { ports: [{ name: 'BAD', port: 80 }] }, '2');
    assert.equal(tracker.update(good, bad), false);
    assert.equal(tracker.pendingCount, 0);
    assert.ok(
      lines.some((l) => l.startsWith('E') && l.includes('ns1/web')),
      'the invalid object is logged as an error',
    );
    assert.equal(map.get('ns1/web:http/TCP')?.port, 80, 'the applied state is untouched');

    const fixed = svc('web', { ports: [{ name: 'http', port: 8080 }] }, '3');
    assert.equal(tracker.update(bad, fixed), true);
    const c = tracker.checkout().get('ns1/web')!;
    assert.deepEqual(
      c.previous.map((p) => p.port),
      [80],
      'previous is the last good state, not the invalid object',
    );
    assert.deepEqual(
      c.current.map((p) => p.port),
      [8080],
    );
  });

  test('an invalid update followed by a delete removes the last good state', () => {
    const { tracker, map, sync } = setup();
    const good = svc('web');
    tracker.update(undefined, good);
    sync();
    const bad = svc('web', { clusterIP: 'garbage', clusterIPs: ['garbage'] }, '2');
    tracker.update(good, bad);
    assert.equal(tracker.update(bad, undefined), true);
    assert.deepEqual([...sync()], ['ns1/web']);
    assert.equal(map.size, 0);
  });

  test('an invalid update to the identical good state later is still a no-op', () => {
    const { tracker, sync } = setup();
    const good = svc('web');
    tracker.update(undefined, good);
    sync();
    tracker.update(good, svc('web', { ports: [{ name: 'x', port: 0 }] }, '2'));
    assert.equal(tracker.update(undefined, svc('web', {}, '3')), false);
  });

  test('an invalid add is ignored, and a later valid update adds the service', () => {
    const { tracker, map, sync } = setup();
    const bad = svc('web', { ports: [{ name: 'p', port: 80, protocol: 'ICMP' }] });
    assert.equal(tracker.update(undefined, bad), false);
    assert.equal(tracker.pendingCount, 0);
    assert.equal(tracker.update(bad, svc('web', {}, '2')), true);
    assert.deepEqual([...sync()], ['ns1/web']);
    assert.equal(map.size, 1);
  });

  test('an invalid add followed by a delete records nothing', () => {
    const { tracker } = setup();
    const bad = svc('web', { ports: [{ name: 'p', port: 99999 }] });
    tracker.update(undefined, bad);
    assert.equal(tracker.update(bad, undefined), false);
    assert.equal(tracker.pendingCount, 0);
  });

  test('a service turned headless or ExternalName loses its ports', () => {
    for (const spec of [
      { clusterIP: 'None', clusterIPs: ['None'] },
      { type: 'ExternalName', externalName: 'x.example' },
    ]) {
      const { tracker, map, sync } = setup();
      tracker.update(undefined, svc('web'));
      sync();
      assert.equal(tracker.update(svc('web'), svc('web', spec, '2')), true);
      assert.deepEqual([...sync()], ['ns1/web']);
      assert.equal(map.size, 0);
    }
  });

  test("services of the other family record nothing in this family's tracker", () => {
    const { tracker } = setup();
    const v6 = svc('web6', { clusterIP: 'fd00::a', clusterIPs: ['fd00::a'], ipFamilies: ['IPv6'] });
    assert.equal(tracker.update(undefined, v6), false);
    assert.equal(tracker.pendingCount, 0);
  });

  test('update(undefined, undefined) reports whether anything is pending', () => {
    const { tracker } = setup();
    assert.equal(tracker.update(undefined, undefined), false);
    tracker.update(undefined, svc('web'));
    assert.equal(tracker.update(undefined, undefined), true);
  });

  test('changes are tracked per namespaced name', () => {
    const { tracker, map, sync } = setup();
    tracker.update(undefined, svc('web', {}, '1', 'a'));
    tracker.update(undefined, svc('web', {}, '1', 'b'));
    tracker.update(undefined, svc('db', { clusterIP: '10.96.0.11', clusterIPs: ['10.96.0.11'] }, '1', 'a'));
    assert.equal(tracker.pendingCount, 3);
    assert.deepEqual([...sync()].sort(), ['a/db', 'a/web', 'b/web']);
    assert.equal(map.size, 3);
    assert.deepEqual([...map.values()].map((p) => p.key).sort(), [
      'a/db:http/TCP',
      'a/web:http/TCP',
      'b/web:http/TCP',
    ]);
  });

  test('warnings about dropped values are logged', () => {
    const { tracker, lines } = setup();
    tracker.update(undefined, svc('web', { externalIPs: ['not-an-ip'] }));
    assert.ok(lines.some((l) => l.startsWith('W') && l.includes('not-an-ip')));
  });
});

describe('ServicePortMap', () => {
  test('apply returns exactly the services that had changes', () => {
    const { tracker, sync } = setup();
    tracker.update(undefined, svc('a'));
    tracker.update(undefined, svc('b'));
    assert.deepEqual([...sync()].sort(), ['ns1/a', 'ns1/b']);
    tracker.update(svc('a'), svc('a', { ports: [{ name: 'http', port: 81 }] }, '2'));
    tracker.update(svc('b'), svc('b', {}, '2')); // no-op
    assert.deepEqual([...sync()], ['ns1/a']);
  });

  test('healthCheckNodePorts lists services needing one', () => {
    const { tracker, map, sync } = setup();
    tracker.update(
      undefined,
      svc('lb', {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32000,
        ports: [
          { name: 'a', port: 80, nodePort: 30080 },
          { name: 'b', port: 443, nodePort: 30443 },
        ],
      }),
    );
    tracker.update(
      undefined,
      svc('lbc', {
        type: 'LoadBalancer',
        healthCheckNodePort: 32001,
        ports: [{ name: 'a', port: 80, nodePort: 30081 }],
      }),
    );
    tracker.update(
      undefined,
      svc('np', {
        type: 'NodePort',
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'a', port: 80, nodePort: 30082 }],
      }),
    );
    sync();
    assert.deepEqual([...map.healthCheckNodePorts()], [['ns1/lb', 32000]]);
  });
});
