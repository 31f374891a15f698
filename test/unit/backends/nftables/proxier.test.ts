// The nftables proxier's sync behaviour: golden rulesets, partial syncs, failures and stale chains.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeProxyError } from '../../../../src/errors.ts';
import { markSyncedAndSync, newFakeProxier } from '../../../support/fake-proxier.ts';
import { ep, NODE_NAME, POD_IP, service, slice } from '../../../support/fixtures.ts';
import { assertGolden } from '../../../support/golden.ts';
import { clusterIPFixture, clusterIPv6Fixture } from '../../../support/golden-clusters.ts';
import { ManualClock } from '../../../support/manual-clock.ts';

const golden = (name: string) => new URL(`../../../golden/${name}`, import.meta.url);

describe('nftables proxier', () => {
  test('does not sync before services and endpoint slices are synced', async () => {
    const fp = clusterIPFixture();
    await fp.proxier.syncProxyRules();
    assert.equal(fp.nft.runCount, 0);
    fp.proxier.onServicesSynced();
    await fp.proxier.syncProxyRules();
    assert.equal(fp.nft.runCount, 0);
    fp.proxier.onEndpointSlicesSynced();
    await fp.proxier.syncProxyRules();
    assert.equal(fp.nft.runCount, 1);
  });

  test('full ruleset matches the golden dump (IPv4)', async () => {
    const fp = clusterIPFixture();
    await markSyncedAndSync(fp.proxier);
    assertGolden(golden('nftables-clusterip-ipv4.nft'), fp.nft.dump('ip', 'kube-proxy'));
  });

  test('full ruleset matches the golden dump (IPv6)', async () => {
    const fp = clusterIPv6Fixture();
    const p = fp.proxier;
    await markSyncedAndSync(p);
    assertGolden(golden('nftables-clusterip-ipv6.nft'), fp.nft.dump('ip6', 'kube-proxy'));
  });

  test('a one-endpoint change is a partial sync that rewrites only that service', async () => {
    const fp = clusterIPFixture();
    const p = fp.proxier;
    await markSyncedAndSync(p);
    const fullOps = fp.nft.lastTransaction!.numOperations;
    p.onEndpointSliceUpdate(
      slice('ns1', 'svc1', 'svc1-a', [{ name: 'p80', port: 80 }], [ep('198.18.180.1')]),
      slice(
        'ns1',
        'svc1',
        'svc1-a',
        [{ name: 'p80', port: 80 }],
        [ep('198.18.180.1'), ep('198.18.180.9', NODE_NAME)],
      ),
    );
    await p.syncProxyRules();
    const script = fp.nft.lastTransaction!.renderLines();
    // The changed service's chain is rewritten (add, flush, masquerade rule, one DNAT rule per
    // endpoint) and the new endpoint, local, joins the hairpin set; nothing else is touched.
    assert.equal(fp.nft.lastTransaction!.numOperations, 6, script);
    assert.ok(fullOps > 50);
    assert.doesNotMatch(script, /ns2\/svc2|ns6\/svc6|add table/);
    assert.match(script, /numgen random mod 2 == 0 meta l4proto tcp dnat to 198\.18\.180\.1:80/);
    assert.match(
      script,
      /add element ip kube-proxy hairpin-endpoints \{ 198\.18\.180\.9 \. 198\.18\.180\.9 \}/,
    );
    const out = fp.tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.41', destPort: 80 });
    assert.equal(out.output, '198.18.180.1:80, 198.18.180.9:80');
  });

  test('only local endpoints join the hairpin set (a remote pod reaching itself is not masqueraded, as upstream 1.37)', async () => {
    const fp = newFakeProxier();
    const p = fp.proxier;
    const ports = [{ name: 'p80', port: 80 }];
    p.onServiceAdd(service('ns', 'hp', { clusterIP: '198.19.16.60', ports }));
    p.onEndpointSliceAdd(
      slice('ns', 'hp', 'hp-a', ports, [
        ep('198.18.182.1', NODE_NAME),
        ep('198.18.180.1', 'node-b'),
        ep('198.18.180.2'),
      ]),
    );
    await markSyncedAndSync(p);
    const hairpin = fp.nft.tables.get('ip kube-proxy')!.sets.get('hairpin-endpoints')!;
    assert.deepEqual(
      [...hairpin.elements.values()].map((e) => e.key.join(' . ')),
      ['198.18.182.1 . 198.18.182.1'],
    );
    // The remote endpoint picks itself: no masquerade (upstream drops the reply path the same way).
    const self = fp.tracer().trace({ sourceIP: '198.18.180.1', destIP: '198.19.16.60', destPort: 80 });
    const local = fp.tracer().trace({ sourceIP: '198.18.182.1', destIP: '198.19.16.60', destPort: 80 });
    assert.equal(self.output, '198.18.180.1:80, 198.18.180.2:80, 198.18.182.1:80');
    assert.equal(local.output, self.output);
  });

  test('affinity entries of remaining endpoints survive endpoint changes and restarts; others are dropped', async () => {
    const fp = newFakeProxier();
    const p = fp.proxier;
    const ports = [{ name: 'p80', port: 80 }];
    const spec = { clusterIP: '198.19.16.50', ports, sessionAffinity: 'ClientIP' };
    p.onServiceAdd(
      service('ns', 'sticky', { ...spec, sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }),
    );
    const three = slice('ns', 'sticky', 'sticky-a', ports, [
      ep('198.18.180.1'),
      ep('198.18.180.2'),
      ep('198.18.180.3'),
    ]);
    p.onEndpointSliceAdd(three);
    await markSyncedAndSync(p);
    const table = () => fp.nft.tables.get('ip kube-proxy')!;
    const affinityMaps = () => [...table().sets.values()].filter((s) => s.def.name.startsWith('affinity-'));
    const [first] = affinityMaps();
    assert.ok(first);
    // What the data path would have recorded: two clients, one on the endpoint about to go away.
    fp.nft.parseDump(
      `${fp.nft.dump('ip', 'kube-proxy')}` +
        `add element ip kube-proxy ${first.def.name} { 198.18.1.1 expires 500s : 198.18.180.1 }\n` +
        `add element ip kube-proxy ${first.def.name} { 198.18.1.2 expires 100s : 198.18.180.3 }\n`,
    );

    const two = slice('ns', 'sticky', 'sticky-a', ports, [ep('198.18.180.1'), ep('198.18.180.2')]);
    p.onEndpointSliceUpdate(three, two);
    await p.syncProxyRules();
    const [second, ...more] = affinityMaps();
    assert.equal(more.length, 0, 'the old map is deleted');
    assert.ok(second && second.def.name !== first.def.name);
    assert.deepEqual(
      [...second.elements.values()].map((e) => [e.key[0], e.value, e.expiresSeconds]),
      [['198.18.1.1', '198.18.180.1', 500]],
    );
    const chain = [...table().chains.values()].find((c) => c.def.name.includes('ns/sticky/tcp/p80'))!;
    assert.ok(chain.rules.every((r) => !r.rule.includes(first.def.name)));
    assert.match(
      chain.rules.map((r) => r.rule).join('\n'),
      new RegExp(`ip saddr @${second.def.name} update`),
    );

    // A restart finds the same map in the kernel and keeps it, entries and all.
    const restarted = newFakeProxier({ nft: fp.nft });
    restarted.proxier.onServiceAdd(
      service('ns', 'sticky', { ...spec, sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }),
    );
    restarted.proxier.onEndpointSliceAdd(two);
    await markSyncedAndSync(restarted.proxier);
    assert.deepEqual(
      affinityMaps().map((m) => [m.def.name, m.elements.size]),
      [[second.def.name, 1]],
    );
  });

  test('a sync with no changes sends nothing', async () => {
    const fp = clusterIPFixture();
    await markSyncedAndSync(fp.proxier);
    const before = fp.nft.dump('ip', 'kube-proxy');
    await fp.proxier.syncProxyRules();
    assert.equal(fp.nft.lastTransaction!.numOperations, 0);
    assert.equal(fp.nft.dump('ip', 'kube-proxy'), before);
  });

  test('a failed sync keeps the kernel rules, retries, and the next sync is full', async () => {
    const fp = clusterIPFixture();
    const p = fp.proxier;
    await markSyncedAndSync(p);
    const good = fp.nft.dump('ip', 'kube-proxy');
    p.onServiceDelete(
      service('ns6', 'svc6', { clusterIP: '198.19.16.46', ports: [{ name: 'p80', port: 80 }] }),
    );
    fp.nft.failNext = new KubeProxyError('KP_ERR_NFT_FAILED', 'injected failure');
    await p.syncProxyRules(); // must not throw
    assert.equal(fp.nft.dump('ip', 'kube-proxy'), good, 'a failed transaction changes nothing');
    await p.syncProxyRules();
    const tx = fp.nft.lastTransaction!;
    assert.match(tx.render(), /^add table ip kube-proxy/m, 'the sync after a failure is a full one');
    assert.doesNotMatch(fp.nft.dump('ip', 'kube-proxy'), /198\.19\.16\.46/);
  });

  test('stale service chains are flushed at once and deleted a second later', async () => {
    const clock = new ManualClock();
    const fp = clusterIPFixture({ clock });
    const p = fp.proxier;
    await markSyncedAndSync(p);
    p.onServiceDelete(
      service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: [{ name: 'p80', port: 80 }] }),
    );
    clock.jump(100);
    await p.syncProxyRules();
    const chains = [...fp.nft.tables.get('ip kube-proxy')!.chains.keys()];
    const stale = chains.filter((c) => c.includes('ns1/svc1'));
    assert.equal(stale.length, 1, 'the service chain still exists, flushed');
    for (const c of stale) assert.equal(fp.nft.tables.get('ip kube-proxy')!.chains.get(c)!.rules.length, 0);
    clock.jump(1400);
    await p.syncProxyRules();
    const left = [...fp.nft.tables.get('ip kube-proxy')!.chains.keys()].filter((c) => c.includes('ns1/svc1'));
    assert.deepEqual(left, []);
  });

  test('an invalid Service update keeps the last good rules', async () => {
    const fp = clusterIPFixture();
    const p = fp.proxier;
    await markSyncedAndSync(p);
    const good = fp.nft.dump('ip', 'kube-proxy');
    const bad = service('ns1', 'svc1', {
      clusterIP: '198.19.16.41; flush ruleset',
      ports: [{ name: 'p80', port: 80 }],
    });
    p.onServiceUpdate(
      service('ns1', 'svc1', { clusterIP: '198.19.16.41', ports: [{ name: 'p80', port: 80 }] }),
      bad,
    );
    await p.syncProxyRules();
    assert.equal(fp.nft.dump('ip', 'kube-proxy'), good);
  });

  test('health-check node ports follow eTP Local LoadBalancers and their local ready endpoints', async () => {
    const calls: { services?: Map<string, number>; endpoints?: Map<string, number> } = {};
    const fp = newFakeProxier({
      serviceHealth: {
        syncServices: async (ports) => {
          calls.services = new Map(ports);
        },
        syncEndpoints: (counts) => {
          calls.endpoints = new Map(counts);
        },
        close: async () => {},
      },
    });
    const p = fp.proxier;
    p.onServiceAdd(
      service(
        'ns1',
        'lb',
        {
          type: 'LoadBalancer',
          clusterIP: '198.19.16.41',
          externalTrafficPolicy: 'Local',
          healthCheckNodePort: 30000,
          ports: [{ name: 'p80', port: 80, nodePort: 3001 }],
        },
        { loadBalancer: { ingress: [{ ip: '198.19.200.4' }] } },
      ),
    );
    p.onServiceAdd(
      service('ns1', 'plain', { clusterIP: '198.19.16.42', ports: [{ name: 'p80', port: 80 }] }),
    );
    p.onEndpointSliceAdd(
      slice(
        'ns1',
        'lb',
        'lb-1',
        [{ name: 'p80', port: 80 }],
        [
          ep('198.18.180.1', NODE_NAME),
          ep('198.18.180.2', NODE_NAME, { ready: false, serving: true, terminating: true }),
          ep('198.18.180.3', 'node2'),
        ],
      ),
    );
    await markSyncedAndSync(p);
    assert.deepEqual([...(calls.services ?? [])], [['ns1/lb', 30000]]);
    assert.equal(calls.endpoints?.get('ns1/lb'), 1, 'terminating endpoints are not counted');
  });

  test('two services claiming one node port: the later one wins, in one transaction and after a change', async () => {
    const fp = newFakeProxier();
    const p = fp.proxier;
    const np = (name: string, ip: string) =>
      service('ns1', name, {
        type: 'NodePort',
        clusterIP: ip,
        ports: [{ name: 'p80', port: 80, nodePort: 30014 }],
      });
    p.onServiceAdd(np('a', '198.19.16.41'));
    p.onServiceAdd(np('b', '198.19.16.42'));
    p.onEndpointSliceAdd(slice('ns1', 'a', 'a-1', [{ name: 'p80', port: 80 }], [ep('198.18.180.1')]));
    p.onEndpointSliceAdd(slice('ns1', 'b', 'b-1', [{ name: 'p80', port: 80 }], [ep('198.18.180.2')]));
    await markSyncedAndSync(p);
    assert.equal(fp.nft.runCount, 1);
    const t = () =>
      fp.tracer().trace({ sourceIP: '198.19.100.2', destIP: '198.19.0.2', destPort: 30014 }).output;
    assert.equal(t(), '198.18.180.2:80');
    p.onServiceDelete(np('b', '198.19.16.42'));
    await p.syncProxyRules();
    assert.equal(t(), '198.18.180.1:80', 'the remaining claimant takes the node port over');
  });

  test('reports service ports whose Local policy has no local endpoints, incrementally', async () => {
    const seen: { internal: number; external: number }[] = [];
    const fp = newFakeProxier({ observer: { synced: (_f, stats) => seen.push(stats.noLocalEndpoints) } });
    const p = fp.proxier;
    p.onServiceAdd(
      service('ns1', 'itp', {
        clusterIP: '198.19.16.41',
        internalTrafficPolicy: 'Local',
        ports: [{ name: 'p', port: 80 }],
      }),
    );
    p.onServiceAdd(
      service('ns1', 'etp', {
        type: 'NodePort',
        clusterIP: '198.19.16.42',
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'p', port: 80, nodePort: 3001 }],
      }),
    );
    p.onEndpointSliceAdd(
      slice('ns1', 'itp', 'i', [{ name: 'p', port: 80 }], [ep('198.18.180.1', 'elsewhere')]),
    );
    p.onEndpointSliceAdd(
      slice('ns1', 'etp', 'e', [{ name: 'p', port: 80 }], [ep('198.18.180.2', 'elsewhere')]),
    );
    await markSyncedAndSync(p);
    assert.deepEqual(seen.at(-1), { internal: 1, external: 1 });
    p.onEndpointSliceUpdate(
      slice('ns1', 'etp', 'e', [{ name: 'p', port: 80 }], [ep('198.18.180.2', 'elsewhere')]),
      slice('ns1', 'etp', 'e', [{ name: 'p', port: 80 }], [ep('198.18.180.2', NODE_NAME)]),
    );
    await p.syncProxyRules();
    assert.deepEqual(seen.at(-1), { internal: 1, external: 0 });
  });
});
