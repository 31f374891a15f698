// The IPVS proxier over in-memory IPVS, ipsets, links and iptables. Cases named like upstream's
// (pkg/proxy/ipvs/proxier_test.go) check the same things, re-addressed into 198.18.0.0/15 and
// fd00::/8: the virtual servers and real servers, the ipset entries, the iptables rules.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RETRY_INTERVAL_MS } from '../../../../src/backends/ipvs/graceful-termination.ts';
import { KubeProxyError } from '../../../../src/errors.ts';
import { FLAG_PERSISTENT, virtualServerKey } from '../../../../src/kernel/ipvs/types.ts';
import type { EndpointSlice, Service, SliceEndpoint } from '../../../../src/model/k8s.ts';
import type { SyncStats } from '../../../../src/proxy/types.ts';
import { type FakeIpvsOverrides, newFakeIpvsProxier } from '../../../support/fake-ipvs-proxier.ts';
import { markSyncedAndSync } from '../../../support/fake-proxier.ts';
import { ep, NODE_IP, NODE_NAME, service, slice } from '../../../support/fixtures.ts';
import { assertGolden } from '../../../support/golden.ts';
import { overallServices } from '../../../support/golden-clusters.ts';
import { ManualClock } from '../../../support/manual-clock.ts';

const p80 = (nodePort?: number, protocol = 'TCP') => [
  { name: 'p80', port: 80, protocol, ...(nodePort && { nodePort }) },
];
const slice80 = (ns: string, svc: string, eps: SliceEndpoint[], protocol = 'TCP') =>
  slice(ns, svc, `${svc}-1`, [{ name: 'p80', port: 80, protocol }], eps);

async function synced(o: FakeIpvsOverrides, services: Service[], slices: EndpointSlice[]) {
  const stats: SyncStats[] = [];
  const failures: unknown[] = [];
  const fp = newFakeIpvsProxier({
    nodePortAddresses: [],
    observer: { synced: (_f, s) => stats.push(s), failed: (_f, err) => failures.push(err) },
    ...o,
  });
  for (const s of services) fp.proxier.onServiceAdd(s);
  for (const s of slices) fp.proxier.onEndpointSliceAdd(s);
  await markSyncedAndSync(fp.proxier);
  assert.deepEqual(failures, []);
  const realServers = (key: string) =>
    [...(fp.ipvs.services.get(key)?.dests.values() ?? [])]
      .map((d) => `${d.address}:${d.port}/${d.weight}`)
      .sort();
  const set = (name: string) => [...(fp.ipsets.sets.get(name)?.entries ?? [])].sort();
  return { ...fp, stats, failures, realServers, set };
}

/** svc1, a LoadBalancer at 198.19.200.4 (NodePort 3001) that admits only `range`. */
const sourceRangesLB = (range: string) =>
  service(
    'ns1',
    'svc1',
    { type: 'LoadBalancer', clusterIP: '198.19.16.41', loadBalancerSourceRanges: [range], ports: p80(3001) },
    { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } },
  );

describe('IPVS proxier (upstream proxier_test.go cases)', () => {
  test('TestIPv4Proxier: a ClusterIP service gets a virtual server with its endpoints; one without endpoints none', async () => {
    const f = await synced(
      {},
      [
        service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() }),
        service('ns2', 'svc2', { clusterIP: '198.19.16.42', ports: p80() }),
      ],
      [slice80('ns1', 'svc1', [ep('198.18.180.1'), ep('198.18.180.2', 'other')])],
    );
    assert.deepEqual([...f.ipvs.services.keys()].sort(), ['198.19.16.41:80/TCP', '198.19.16.42:80/TCP']);
    assert.deepEqual(f.realServers('198.19.16.41:80/TCP'), ['198.18.180.1:80/1', '198.18.180.2:80/1']);
    assert.deepEqual(f.realServers('198.19.16.42:80/TCP'), []);
    assert.equal(f.ipvs.services.get('198.19.16.41:80/TCP')?.vs.scheduler, 'rr', 'default scheduler');
    // Both ClusterIPs are bound to kube-ipvs0 and listed in KUBE-IPVS-IPS.
    assert.deepEqual([...(f.links.devices.get('kube-ipvs0') ?? [])].sort(), ['198.19.16.41', '198.19.16.42']);
    assert.deepEqual(f.set('KUBE-IPVS-IPS'), ['198.19.16.41', '198.19.16.42']);
    assert.deepEqual(f.set('KUBE-CLUSTER-IP'), ['198.19.16.41,tcp:80', '198.19.16.42,tcp:80']);
  });

  test('TestIPv6Proxier: IPv6 virtual servers and KUBE-6- sets', async () => {
    const f = await synced(
      { family: 'IPv6', links: undefined, podCIDR: 'fd00:18::/64' },
      [service('ns1', 'svc1', { clusterIP: 'fd00:19:16::41', ipFamilies: ['IPv6'], ports: p80() })],
      [slice('ns1', 'svc1', 'svc1-1', [{ name: 'p80', port: 80 }], [ep('fd00:18::180:1')], 'IPv6')],
    );
    assert.deepEqual([...f.ipvs.services.keys()], ['[fd00:19:16::41]:80/TCP']);
    assert.deepEqual(f.realServers('[fd00:19:16::41]:80/TCP'), ['fd00:18::180:1:80/1']);
    assert.deepEqual(f.set('KUBE-6-CLUSTER-IP'), ['fd00:19:16::41,tcp:80']);
    assert.equal(f.ipsets.sets.has('KUBE-CLUSTER-IP'), false, 'an IPv6 proxier creates only KUBE-6- sets');
    assert.match(f.iptables.dump('nat'), /-A KUBE-SERVICES -s ::1\/128 -j RETURN/);
  });

  test('TestNodePortIPv4: a NodePort virtual server on every node address, bitmap and SCTP hash sets', async () => {
    const f = await synced(
      {},
      [
        service('ns1', 'tcp', { type: 'NodePort', clusterIP: '198.19.16.41', ports: p80(3001) }),
        service('ns1', 'udp', { type: 'NodePort', clusterIP: '198.19.16.42', ports: p80(3002, 'UDP') }),
        service('ns1', 'sctp', { type: 'NodePort', clusterIP: '198.19.16.43', ports: p80(3003, 'SCTP') }),
        service('ns1', 'local', {
          type: 'NodePort',
          clusterIP: '198.19.16.44',
          externalTrafficPolicy: 'Local',
          ports: p80(3004),
        }),
      ],
      [slice80('ns1', 'tcp', [ep('198.18.180.1')])],
    );
    assert.ok(f.ipvs.services.has(`${NODE_IP}:3001/TCP`));
    assert.ok(f.ipvs.services.has(`${NODE_IP}:3002/UDP`));
    assert.ok(f.ipvs.services.has(`${NODE_IP}:3003/SCTP`));
    assert.deepEqual(f.realServers(`${NODE_IP}:3001/TCP`), ['198.18.180.1:80/1']);
    assert.ok(!f.ipvs.services.has('127.0.0.1:3001/TCP'), 'never on loopback');
    assert.deepEqual(f.set('KUBE-NODE-PORT-TCP'), ['3001', '3004']);
    assert.deepEqual(f.set('KUBE-NODE-PORT-LOCAL-TCP'), ['3004']);
    assert.deepEqual(f.set('KUBE-NODE-PORT-UDP'), ['3002']);
    assert.deepEqual(f.set('KUBE-NODE-PORT-SCTP-HASH'), [`${NODE_IP},sctp:3003`]);
    // Node addresses are not bound to kube-ipvs0.
    assert.ok(!f.links.devices.get('kube-ipvs0')?.has(NODE_IP));
    const nat = f.iptables.dump('nat');
    assert.match(
      nat,
      /-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN/,
    );
    assert.match(
      nat,
      /-A KUBE-NODE-PORT -p sctp -m comment .* -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ/,
    );
  });

  test('TestOnlyLocalExternalIPs: an externalIP with policy Local gets only the local endpoint', async () => {
    const f = await synced(
      {},
      [
        service('ns1', 'svc1', {
          type: 'NodePort',
          clusterIP: '198.19.16.41',
          externalIPs: ['198.19.99.81'],
          externalTrafficPolicy: 'Local',
          ports: p80(),
        }),
      ],
      [slice80('ns1', 'svc1', [ep('198.18.180.1', NODE_NAME), ep('198.18.181.1', 'other-node')])],
    );
    assert.deepEqual(f.realServers('198.19.99.81:80/TCP'), ['198.18.180.1:80/1']);
    assert.deepEqual(f.realServers('198.19.16.41:80/TCP'), ['198.18.180.1:80/1', '198.18.181.1:80/1']);
    assert.deepEqual(f.set('KUBE-EXTERNAL-IP-LOCAL'), ['198.19.99.81,tcp:80']);
    assert.deepEqual(f.set('KUBE-EXTERNAL-IP'), []);
    assert.ok(f.links.devices.get('kube-ipvs0')?.has('198.19.99.81'), 'a foreign externalIP is bound');
  });

  test("TestExternalIPs: an externalIP that is the node's own is not bound to kube-ipvs0", async () => {
    const f = await synced(
      {},
      [
        service('ns1', 'svc1', {
          clusterIP: '198.19.16.41',
          externalIPs: [NODE_IP, '198.19.99.82'],
          ports: p80(),
        }),
      ],
      [slice80('ns1', 'svc1', [ep('198.18.180.1')])],
    );
    assert.ok(f.ipvs.services.has(`${NODE_IP}:80/TCP`));
    assert.ok(!f.links.devices.get('kube-ipvs0')?.has(NODE_IP));
    assert.ok(f.links.devices.get('kube-ipvs0')?.has('198.19.99.82'));
    assert.deepEqual(f.set('KUBE-EXTERNAL-IP'), [`${NODE_IP},tcp:80`, '198.19.99.82,tcp:80']);
    assert.match(
      f.iptables.dump('nat'),
      /--match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT/,
    );
  });

  test('TestLoadBalancerSourceRanges: FW and source-CIDR sets, and the chains that match them', async () => {
    const f = await synced(
      {},
      [sourceRangesLB('198.19.100.0/25')],
      [slice80('ns1', 'svc1', [ep('198.18.180.1')])],
    );
    assert.deepEqual(f.realServers('198.19.200.4:80/TCP'), ['198.18.180.1:80/1']);
    assert.deepEqual(f.set('KUBE-LOAD-BALANCER'), ['198.19.200.4,tcp:80']);
    assert.deepEqual(f.set('KUBE-LOAD-BALANCER-FW'), ['198.19.200.4,tcp:80']);
    assert.deepEqual(f.set('KUBE-LOAD-BALANCER-SOURCE-CIDR'), ['198.19.200.4,tcp:80,198.19.100.0/25']);
    // The node's address is outside the ranges: the node may not reach the LB address (kubernetes#119656).
    const filter = f.iptables.dump('filter');
    assert.match(
      filter,
      /-A KUBE-IPVS-OUT-FILTER -s 198\.19\.200\.4 -m ipvs --vaddr 198\.19\.200\.4 --vproto tcp --vport 80 -j DROP/,
    );
    assert.match(
      filter,
      /-A KUBE-PROXY-FIREWALL -m comment .* --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL/,
    );
    assert.match(filter, /-A KUBE-SOURCE-RANGES-FIREWALL -j DROP/);
  });

  test('TestLoadBalancerSourceRanges: a range holding the node admits the node (KUBE-LOAD-BALANCER-SOURCE-IP)', async () => {
    const f = await synced({}, [sourceRangesLB('198.19.0.0/24')], []);
    assert.deepEqual(f.set('KUBE-LOAD-BALANCER-SOURCE-IP'), ['198.19.200.4,tcp:80,198.19.200.4']);
    assert.doesNotMatch(f.iptables.dump('filter'), /KUBE-IPVS-OUT-FILTER -s/);
  });

  test('TestSessionAffinity: ClientIP affinity is IPVS persistence with the timeout', async () => {
    const f = await synced(
      {},
      [
        service('ns1', 'svc1', {
          clusterIP: '198.19.16.41',
          sessionAffinity: 'ClientIP',
          sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
          ports: p80(),
        }),
      ],
      [],
    );
    const vs = f.ipvs.services.get('198.19.16.41:80/TCP')?.vs;
    assert.equal(vs?.flags, FLAG_PERSISTENT);
    assert.equal(vs?.timeout, 600);
  });

  test('mh scheduler: the source-hash flag is set (upstream FlagSourceHash)', async () => {
    const f = await synced(
      { scheduler: 'mh' },
      [service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() })],
      [],
    );
    assert.equal(f.ipvs.services.get('198.19.16.41:80/TCP')?.vs.flags, 0x10);
    assert.equal(f.ipvs.services.get('198.19.16.41:80/TCP')?.vs.scheduler, 'mh');
  });

  test('TestHealthCheckNodePort: the health check port is in KUBE-HEALTH-CHECK-NODE-PORT', async () => {
    const f = await synced(
      {},
      [
        service(
          'ns1',
          'svc1',
          {
            type: 'LoadBalancer',
            clusterIP: '198.19.16.41',
            externalTrafficPolicy: 'Local',
            healthCheckNodePort: 30000,
            ports: p80(3001),
          },
          { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } },
        ),
      ],
      [],
    );
    assert.deepEqual(f.set('KUBE-HEALTH-CHECK-NODE-PORT'), ['30000']);
    assert.deepEqual(f.set('KUBE-LOAD-BALANCER-LOCAL'), ['198.19.200.4,tcp:80']);
  });

  test('TestDismissLocalhostRuleExist: KUBE-SERVICES starts by returning loopback sources', async () => {
    const f = await synced({}, [service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() })], []);
    const first = f.iptables
      .dump('nat')
      .split('\n')
      .find((l) => l.startsWith('-A KUBE-SERVICES'));
    assert.equal(first, '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN');
  });

  test('TestCreateAndLinkKubeChain: the jumps from the built-in chains are there once, also after resyncs', async () => {
    const f = await synced({}, [service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() })], []);
    f.proxier.forceFullSync();
    await f.proxier.syncProxyRules();
    const nat = f.iptables.dump('nat');
    const filter = f.iptables.dump('filter');
    for (const [text, dump] of [
      ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', nat],
      ['-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', nat],
      ['-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING', nat],
      ['-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER', filter],
      ['-A OUTPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-OUT-FILTER', filter],
      ['-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL', filter],
    ] as const)
      assert.equal(dump!.split('\n').filter((l) => l === text).length, 1, `${text} once in:\n${dump}`);
  });

  test('a jump deleted from a built-in chain is back after the next full sync, not after a partial one', async () => {
    const f = await synced({}, [service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() })], []);
    const jump = '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES';
    const count = () =>
      f.iptables
        .dump('nat')!
        .split('\n')
        .filter((l) => l === jump).length;
    await f.iptables.restore(
      '*nat\n-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES\nCOMMIT\n',
    );
    assert.equal(count(), 0);
    f.proxier.onServiceAdd(service('ns1', 'svc2', { clusterIP: '198.19.16.42', ports: p80() }));
    await f.proxier.syncProxyRules();
    assert.equal(count(), 0, 'a partial sync does not read the built-in chains');
    f.proxier.forceFullSync();
    await f.proxier.syncProxyRules();
    assert.equal(count(), 1);
  });

  test('TestCleanLegacyService / TestCleanLegacyRealServersExcludeCIDRs: stale virtual servers go, excluded ones stay', async () => {
    const fp = newFakeIpvsProxier({ excludeCIDRs: ['198.19.250.0/24'] });
    const stale = (address: string) => ({
      family: 'IPv4' as const,
      address,
      protocol: 'TCP' as const,
      port: 80,
      scheduler: 'rr',
      flags: 0,
      timeout: 0,
    });
    await fp.ipvs.apply([
      { op: 'add-service', vs: stale('198.19.16.99') },
      { op: 'add-service', vs: stale('198.19.250.1') },
      { op: 'add-service', vs: { ...stale('fd00:19::99'), family: 'IPv6' } },
    ]);
    fp.proxier.onServiceAdd(service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() }));
    await markSyncedAndSync(fp.proxier);
    assert.deepEqual([...fp.ipvs.services.keys()].sort(), [
      '198.19.16.41:80/TCP',
      '198.19.250.1:80/TCP',
      '[fd00:19::99]:80/TCP',
    ]);
  });

  test('Test_syncEndpoint_updateWeightsOnRestart: a real server left at weight 0 is set back to 1 on the first sync', async () => {
    const fp = newFakeIpvsProxier();
    const vs = {
      family: 'IPv4' as const,
      address: '198.19.16.41',
      protocol: 'TCP' as const,
      port: 80,
      scheduler: 'rr',
      flags: 0,
      timeout: 0,
    };
    const rs = { address: '198.18.180.1', port: 80, weight: 0, activeConns: 0, inactiveConns: 0 };
    await fp.ipvs.apply([
      { op: 'add-service', vs },
      { op: 'add-dest', vs, rs },
    ]);
    fp.ipvs.log.length = 0;
    fp.proxier.onServiceAdd(service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() }));
    fp.proxier.onEndpointSliceAdd(slice80('ns1', 'svc1', [ep('198.18.180.1')]));
    await markSyncedAndSync(fp.proxier);
    assert.equal(fp.ipvs.services.get(virtualServerKey(vs))?.dests.get('198.18.180.1:80')?.weight, 1);
    assert.deepEqual(
      fp.ipvs.log.map((o) => o.op),
      ['update-dest'],
      'the virtual server is kept, its real server updated in place',
    );
  });

  test('TestMultiPortServiceBindAddr: the address stays bound while any port uses it, and goes with the service', async () => {
    const fp = newFakeIpvsProxier();
    const svc = service('ns1', 'svc1', {
      clusterIP: '198.19.16.41',
      ports: [
        { name: 'a', port: 80, protocol: 'TCP' },
        { name: 'b', port: 53, protocol: 'UDP' },
      ],
    });
    fp.proxier.onServiceAdd(svc);
    await markSyncedAndSync(fp.proxier);
    assert.deepEqual([...(fp.links.devices.get('kube-ipvs0') ?? [])], ['198.19.16.41']);
    fp.proxier.onServiceDelete(svc);
    await fp.proxier.syncProxyRules();
    assert.deepEqual([...(fp.links.devices.get('kube-ipvs0') ?? [])], []);
    assert.equal(fp.ipvs.services.size, 0);
  });

  test('Test_EndpointSliceReadyAndTerminatingLocal: terminating serving endpoints are used when none is ready', async () => {
    const f = await synced(
      {},
      [service('ns1', 'svc1', { clusterIP: '198.19.16.41', internalTrafficPolicy: 'Local', ports: p80() })],
      [
        slice80('ns1', 'svc1', [
          ep('198.18.180.1', NODE_NAME, { ready: false, serving: true, terminating: true }),
          ep('198.18.180.2', NODE_NAME, { ready: false, serving: false, terminating: true }),
          ep('198.18.180.3', 'other', { ready: true, serving: true, terminating: false }),
        ]),
      ],
    );
    assert.deepEqual(f.realServers('198.19.16.41:80/TCP'), ['198.18.180.1:80/1']);
  });

  test('TestTestInternalTrafficPolicyE2E: iTP Local without local endpoints uses no real server (no cluster fallback for a pure ClusterIP)', async () => {
    const f = await synced(
      {},
      [service('ns1', 'svc1', { clusterIP: '198.19.16.41', internalTrafficPolicy: 'Local', ports: p80() })],
      [slice80('ns1', 'svc1', [ep('198.18.180.3', 'other')])],
    );
    assert.deepEqual(f.realServers('198.19.16.41:80/TCP'), []);
    assert.equal(f.stats[0]?.noLocalEndpoints.internal, 1);
  });

  test('eTP Local without local endpoints: the NodePort virtual server gets the cluster endpoints (upstream kubernetes#97081)', async () => {
    const f = await synced(
      {},
      [
        service('ns1', 'svc1', {
          type: 'NodePort',
          clusterIP: '198.19.16.41',
          externalTrafficPolicy: 'Local',
          ports: p80(3001),
        }),
      ],
      [slice80('ns1', 'svc1', [ep('198.18.180.3', 'other')])],
    );
    assert.deepEqual(f.realServers(`${NODE_IP}:3001/TCP`), ['198.18.180.3:80/1']);
    assert.equal(f.stats[0]?.noLocalEndpoints.external, 1);
  });

  test('hairpin: local endpoints are in KUBE-LOOP-BACK, masqueraded in KUBE-POSTROUTING', async () => {
    const f = await synced(
      {},
      [service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80() })],
      [slice80('ns1', 'svc1', [ep('198.18.180.1', NODE_NAME), ep('198.18.180.2', 'other')])],
    );
    assert.deepEqual(f.set('KUBE-LOOP-BACK'), ['198.18.180.1,tcp:80,198.18.180.1']);
    assert.match(
      f.iptables.dump('nat'),
      /-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE/,
    );
  });
});

describe('IPVS proxier: graceful termination and partial syncs', () => {
  const svc = (protocol = 'TCP') =>
    service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: p80(undefined, protocol) });

  test('a removed TCP real server with connections drains at weight 0 and is deleted by the retry once it has none', async () => {
    const clock = new ManualClock();
    const f = await synced(
      { clock },
      [svc()],
      [slice80('ns1', 'svc1', [ep('198.18.180.1'), ep('198.18.180.2')])],
    );
    const key = '198.19.16.41:80/TCP';
    f.ipvs.setConnections(key, '198.18.180.2:80', 3, 1);
    f.proxier.onEndpointSliceAdd(slice80('ns1', 'svc1', [ep('198.18.180.1')]));
    await f.proxier.syncProxyRules();
    assert.deepEqual(f.realServers(key), ['198.18.180.1:80/1', '198.18.180.2:80/0']);
    // Another sync while it drains leaves it alone.
    await f.proxier.syncProxyRules();
    assert.deepEqual(f.realServers(key), ['198.18.180.1:80/1', '198.18.180.2:80/0']);
    await clock.advance(RETRY_INTERVAL_MS);
    assert.deepEqual(f.realServers(key), ['198.18.180.1:80/1', '198.18.180.2:80/0'], 'still connected: kept');
    f.ipvs.setConnections(key, '198.18.180.2:80', 0, 0);
    await clock.advance(RETRY_INTERVAL_MS);
    assert.deepEqual(f.realServers(key), ['198.18.180.1:80/1']);
  });

  test('a removed UDP real server goes at once; a TCP one without connections too', async () => {
    for (const protocol of ['UDP', 'TCP']) {
      const f = await synced(
        {},
        [svc(protocol)],
        [slice80('ns1', 'svc1', [ep('198.18.180.1'), ep('198.18.180.2')], protocol)],
      );
      const key = `198.19.16.41:80/${protocol}`;
      if (protocol === 'UDP') f.ipvs.setConnections(key, '198.18.180.2:80', 0, 5);
      f.proxier.onEndpointSliceAdd(slice80('ns1', 'svc1', [ep('198.18.180.1')], protocol));
      await f.proxier.syncProxyRules();
      assert.deepEqual(f.realServers(key), ['198.18.180.1:80/1'], protocol);
    }
  });

  test('an endpoint that comes back while draining is deleted and added afresh at weight 1', async () => {
    const f = await synced({}, [svc()], [slice80('ns1', 'svc1', [ep('198.18.180.1'), ep('198.18.180.2')])]);
    const key = '198.19.16.41:80/TCP';
    f.ipvs.setConnections(key, '198.18.180.2:80', 1, 0);
    f.proxier.onEndpointSliceAdd(slice80('ns1', 'svc1', [ep('198.18.180.1')]));
    await f.proxier.syncProxyRules();
    f.ipvs.log.length = 0;
    f.proxier.onEndpointSliceAdd(slice80('ns1', 'svc1', [ep('198.18.180.1'), ep('198.18.180.2')]));
    await f.proxier.syncProxyRules();
    assert.deepEqual(
      f.ipvs.log.map((o) => o.op),
      ['delete-dest', 'add-dest'],
    );
    assert.deepEqual(f.realServers(key), ['198.18.180.1:80/1', '198.18.180.2:80/1']);
  });

  test('a partial sync reads and writes only the changed service; ipsets change by the difference', async () => {
    const f = await synced(
      {},
      [svc(), service('ns2', 'svc2', { clusterIP: '198.19.16.42', ports: p80() })],
      [slice80('ns1', 'svc1', [ep('198.18.180.1')]), slice80('ns2', 'svc2', [ep('198.18.180.5')])],
    );
    f.ipvs.log.length = 0;
    const scripts = f.ipsets.scripts.length;
    f.proxier.onServiceDelete(service('ns2', 'svc2', { clusterIP: '198.19.16.42', ports: p80() }));
    await f.proxier.syncProxyRules();
    assert.deepEqual(
      f.ipvs.log.map((o) => `${o.op} ${virtualServerKey(o.vs)}`),
      ['delete-service 198.19.16.42:80/TCP'],
    );
    assert.deepEqual(f.ipsets.scripts.slice(scripts), [
      'del KUBE-CLUSTER-IP 198.19.16.42,tcp:80\ndel KUBE-IPVS-IPS 198.19.16.42\n',
    ]);
    assert.equal(f.stats.at(-1)?.full, false);
  });

  test('a refused IPVS change is logged and the next sync is a full one; everything else still applies', async () => {
    const fp = newFakeIpvsProxier();
    fp.ipvs.failWith = (op) =>
      op.op === 'add-dest' && op.rs.address === '198.18.180.2'
        ? new KubeProxyError('KP_ERR_IPVS_FAILED', 'add-dest: ENOMEM')
        : undefined;
    fp.proxier.onServiceAdd(svc());
    fp.proxier.onEndpointSliceAdd(slice80('ns1', 'svc1', [ep('198.18.180.1'), ep('198.18.180.2')]));
    await markSyncedAndSync(fp.proxier);
    assert.deepEqual(
      [...(fp.ipvs.services.get('198.19.16.41:80/TCP')?.dests.keys() ?? [])],
      ['198.18.180.1:80'],
    );
    fp.ipvs.failWith = undefined;
    await fp.proxier.syncProxyRules();
    assert.deepEqual(
      [...(fp.ipvs.services.get('198.19.16.41:80/TCP')?.dests.keys() ?? [])].sort(),
      ['198.18.180.1:80', '198.18.180.2:80'],
      'the full sync that follows repairs it',
    );
  });

  test('the rules of a cluster with every kind of service (golden)', async () => {
    const [svc1, svc2] = overallServices() as [Service, Service];
    const f = await synced(
      {},
      // Upstream's overall svc1, svc2 with a source range, and svc3 over UDP.
      [
        svc1,
        { ...svc2, spec: { ...svc2.spec, loadBalancerSourceRanges: ['198.19.100.0/25'] } },
        service('ns3', 'svc3', { type: 'NodePort', clusterIP: '198.19.16.43', ports: p80(3003, 'UDP') }),
      ],
      [slice80('ns1', 'svc1', [ep('198.18.180.1', NODE_NAME)])],
    );
    assertGolden(
      new URL('../../../golden/ipvs-rules-ipv4.txt', import.meta.url),
      `${f.iptables.dump('nat')}${f.iptables.dump('filter')}`,
    );
  });
});
