// The iptables proxier over the in-memory iptables: when it syncs, what a full and a partial sync
// restore, stale chains, failures, canaries (a flush behind our back), large clusters, requests
// made while a restore is in the kernel, and the IPv6 (ip6tables) differences.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CanaryMonitor } from '../../../../src/backends/iptables/canary.ts';
import { KUBE_PROXY_CANARY } from '../../../../src/backends/iptables/names.ts';
import { KubeProxyError } from '../../../../src/errors.ts';
import { FakeIptables } from '../../../../src/kernel/iptables/fake.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import type { EndpointSlice, Service, SliceEndpoint } from '../../../../src/model/k8s.ts';
import type { SyncStats } from '../../../../src/proxy/types.ts';
import {
  type FakeIptablesOverrides,
  newFakeIptablesProxier,
} from '../../../support/fake-iptables-proxier.ts';
import { frozenClock, markSyncedAndSync } from '../../../support/fake-proxier.ts';
import { ep, NODE_IP, NODE_NAME, node, POD_IP, service, slice } from '../../../support/fixtures.ts';
import { assertGolden } from '../../../support/golden.ts';
import { overallServices } from '../../../support/golden-clusters.ts';

const golden = (name: string) => new URL(`../../../golden/${name}`, import.meta.url);

const p80 = (nodePort?: number) => [
  { name: 'p80', port: 80, protocol: 'TCP', ...(nodePort && { nodePort }) },
];
const slice80 = (ns: string, svc: string, eps: SliceEndpoint[], name = `${svc}-1`) =>
  slice(ns, svc, name, [{ name: 'p80', port: 80 }], eps);

/** Upstream's TestOverallIPTablesRules objects, re-addressed (as in ruleset.test.ts, but as API objects). */
function overall(): { services: Service[]; slices: EndpointSlice[] } {
  return {
    services: overallServices(),
    slices: [
      slice80('ns1', 'svc1', [ep('198.18.180.1')]),
      slice80('ns2', 'svc2', [ep('198.18.180.2', 'node2')]),
      slice80('ns3', 'svc3', [ep('198.18.180.3')]),
      slice80('ns4', 'svc4', [ep('198.18.180.4'), ep('198.18.180.5', NODE_NAME)]),
      slice80('ns5', 'svc5', [ep('198.18.180.3')]),
    ],
  };
}

/** A proxier holding `overall()` (or the given objects), synced once. */
async function synced(o: FakeIptablesOverrides = {}, objs = overall()) {
  const stats: SyncStats[] = [];
  const failures: unknown[] = [];
  // Upstream's fake accepts NodePorts on every local address (nodePortAddresses nil).
  const fp = newFakeIptablesProxier({
    nodePortAddresses: [],
    observer: { synced: (_f, s) => stats.push(s), failed: (_f, err) => failures.push(err) },
    ...o,
  });
  for (const s of objs.services) fp.proxier.onServiceAdd(s);
  for (const s of objs.slices) fp.proxier.onEndpointSliceAdd(s);
  await markSyncedAndSync(fp.proxier);
  assert.deepEqual(failures, []);
  return { ...fp, stats, failures };
}

const dumpAll = (ipt: FakeIptables) => `${ipt.dump('filter')}${ipt.dump('nat')}`;
const declared = (input: string, prefix: string) =>
  input
    .split('\n')
    .filter((l) => l.startsWith(`:${prefix}`))
    .map((l) => l.slice(1).split(' ')[0]!);
const pod = (destIP: string, destPort = 80) => ({ sourceIP: POD_IP, destIP, destPort });

describe('iptables proxier', () => {
  test('(a) does not sync until both Services and EndpointSlices are synced', async () => {
    const fp = newFakeIptablesProxier();
    const { services, slices } = overall();
    fp.proxier.onServiceAdd(services[0]!);
    fp.proxier.onEndpointSliceAdd(slices[0]!);
    await fp.proxier.syncProxyRules();
    fp.proxier.onServicesSynced();
    await fp.proxier.syncProxyRules();
    assert.equal(fp.iptables.restoreCount, 0);
    assert.equal(fp.iptables.chains('nat').includes('KUBE-SERVICES'), false);
    fp.proxier.onEndpointSlicesSynced();
    await fp.proxier.syncProxyRules();
    assert.equal(fp.iptables.restoreCount, 1);
    assert.equal(fp.tracer().trace(pod('198.19.16.41')).output, '198.18.180.1:80');
  });

  test('(b) the full sync leaves upstream TestOverallIPTablesRules layout (golden), plus the jumps', async () => {
    const fp = await synced();
    assert.equal(fp.stats.at(-1)?.full, true);
    assertGolden(golden('iptables-proxier-overall-ipv4.txt'), dumpAll(fp.iptables));
    // Traced end to end from PREROUTING, so the jump rules from the built-in chains are in place.
    const t = fp.tracer(['198.19.0.2', '198.19.1.2', '198.19.99.11']);
    assert.equal(t.trace(pod('198.19.16.41')).output, '198.18.180.1:80');
    assert.equal(t.trace(pod('198.19.16.46')).output, 'REJECT');
    assert.deepEqual(t.trace({ sourceIP: '198.19.100.2', destIP: NODE_IP, destPort: 3003 }), {
      output: '198.18.180.3:80',
      masq: true,
    });
  });

  test('(c) a one-endpoint change is a partial sync of that service only', async () => {
    const fp = await synced();
    fp.proxier.onEndpointSliceUpdate(
      slice80('ns4', 'svc4', [ep('198.18.180.4'), ep('198.18.180.5', NODE_NAME)]),
      slice80('ns4', 'svc4', [ep('198.18.180.4'), ep('198.18.180.6', NODE_NAME)]),
    );
    await fp.proxier.syncProxyRules();
    assert.equal(fp.stats.at(-1)?.full, false);
    const input = fp.iptables.lastRestoreInput!;
    // Only svc4's chains: its service chain, its two current endpoints and the stale one (deleted).
    assert.equal(declared(input, 'KUBE-SVC-').length, 1);
    assert.equal(declared(input, 'KUBE-SEP-').length, 3);
    assert.equal(input.split('\n').filter((l) => l.startsWith('-X KUBE-SEP-')).length, 1);
    assert.equal(input.includes('-j DNAT --to-destination 198.18.180.1:80'), false);
    // The fixed chains did not change (svc4's chain names are stable), so none is re-sent: under
    // --noflush an undeclared chain keeps its rules (upstream re-sends them all).
    for (const chain of ['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']) {
      assert.equal(declared(input, chain).includes(chain), false, chain);
    }
    assert.doesNotMatch(input, /-A KUBE-SERVICES /);
    // The kernel holds the same rules as after a full sync of the same state.
    const full = await synced();
    full.proxier.onEndpointSliceUpdate(
      slice80('ns4', 'svc4', [ep('198.18.180.4'), ep('198.18.180.5', NODE_NAME)]),
      slice80('ns4', 'svc4', [ep('198.18.180.4'), ep('198.18.180.6', NODE_NAME)]),
    );
    full.proxier.forceFullSync();
    await full.proxier.syncProxyRules();
    assert.equal(full.stats.at(-1)?.full, true);
    for (const table of ['filter', 'nat'] as const)
      assert.equal(fp.iptables.dump(table), full.iptables.dump(table), table);
    // The untouched services still work; the changed one reaches its new endpoint.
    const t = fp.tracer();
    assert.equal(t.trace(pod('198.19.16.41')).output, '198.18.180.1:80');
    assert.equal(t.trace(pod('198.19.16.44')).output, '198.18.180.4:80, 198.18.180.6:80');
  });

  test('(c2) a change that alters a fixed chain re-sends that chain whole, and only the fixed chains that changed', async () => {
    const fp = await synced();
    fp.proxier.onServiceAdd(
      service('ns9', 'svc9', {
        clusterIP: '198.19.16.49',
        ports: [{ name: 'p80', port: 80, protocol: 'TCP' }],
      }),
    );
    await fp.proxier.syncProxyRules();
    const input = fp.iptables.lastRestoreInput!;
    // No endpoints: a REJECT in filter KUBE-SERVICES; nat is untouched.
    assert.deepEqual(declared(input, 'KUBE-'), ['KUBE-SERVICES']);
    assert.match(input, /^\*filter\n:KUBE-SERVICES - \[0:0\]\n/);
    assert.match(input, /-A KUBE-SERVICES .*-d 198\.19\.16\.49 .*-j REJECT/);
    assert.equal(fp.tracer().trace(pod('198.19.16.49')).output, 'REJECT');
    assert.equal(fp.tracer().trace(pod('198.19.16.41')).output, '198.18.180.1:80');
  });

  test('after a failed restore nothing is skipped: the next sync writes every chain', async () => {
    const fp = await synced();
    fp.iptables.failNext = new KubeProxyError('KP_ERR_EXEC', 'iptables-restore: line 3 failed');
    fp.proxier.onServiceAdd(
      service('ns9', 'svc9', {
        clusterIP: '198.19.16.49',
        ports: [{ name: 'p80', port: 80, protocol: 'TCP' }],
      }),
    );
    await fp.proxier.syncProxyRules();
    await fp.proxier.syncProxyRules();
    const input = fp.iptables.lastRestoreInput!;
    for (const chain of [
      'KUBE-SERVICES',
      'KUBE-NODEPORTS',
      'KUBE-POSTROUTING',
      'KUBE-MARK-MASQ',
      'KUBE-FORWARD',
    ])
      assert.equal(declared(input, chain).includes(chain), true, chain);
  });

  test('(d) a deleted service has its chains deleted', async () => {
    const fp = await synced();
    const before = new Set(fp.iptables.chains('nat'));
    const { services, slices } = overall();
    fp.proxier.onServiceDelete(services[2]!);
    fp.proxier.onEndpointSliceDelete(slices[2]!);
    await fp.proxier.syncProxyRules();
    const gone = [...before].filter((c) => !fp.iptables.chains('nat').includes(c));
    // svc3 (a NodePort): its SVC, EXT and SEP chains.
    assert.deepEqual(gone.map((c) => c.replace(/-[A-Z0-9]{16}$/, '')).sort(), [
      'KUBE-EXT',
      'KUBE-SEP',
      'KUBE-SVC',
    ]);
    const input = fp.iptables.lastRestoreInput!;
    for (const c of gone) {
      assert.match(input, new RegExp(`^-X ${c}$`, 'm'));
      assert.equal(fp.iptables.dump('nat').includes(c), false, c);
    }
    assert.equal(fp.tracer().trace(pod('198.19.16.43')).output, '');
  });

  test('(e) a failed restore keeps the last good rules and the next sync is full', async () => {
    const fp = await synced();
    const good = dumpAll(fp.iptables);
    fp.proxier.onEndpointSliceUpdate(
      slice80('ns1', 'svc1', [ep('198.18.180.1')]),
      slice80('ns1', 'svc1', [ep('198.18.180.9')]),
    );
    fp.iptables.failNext = new KubeProxyError('KP_ERR_EXEC', 'iptables-restore: line 7 failed');
    await fp.proxier.syncProxyRules();
    assert.equal(fp.failures.length, 1);
    assert.equal(dumpAll(fp.iptables), good);
    assert.equal(fp.tracer().trace(pod('198.19.16.41')).output, '198.18.180.1:80');
    const successes = fp.stats.length;
    await fp.proxier.syncProxyRules();
    assert.equal(fp.stats.length, successes + 1);
    assert.equal(fp.stats.at(-1)?.full, true);
    assert.equal(declared(fp.iptables.lastRestoreInput!, 'KUBE-SVC-').length, 5);
    assert.equal(fp.tracer().trace(pod('198.19.16.41')).output, '198.18.180.9:80');
  });

  test('(f) canaries: a nat flush is detected, and a forced full sync restores the rules', async () => {
    const fp = await synced();
    let flushed = 0;
    const monitor = new CanaryMonitor({
      iptables: fp.iptables,
      logger: silentLogger,
      intervalMs: 30_000,
      clock: frozenClock,
      onFlushed: () => {
        flushed++;
        fp.proxier.forceFullSync();
      },
    });
    await monitor.start();
    assert.equal(await monitor.check(), false);
    assert.equal(fp.tracer().trace(pod('198.19.16.41')).output, '198.18.180.1:80');

    fp.iptables.flushTable('nat');
    assert.equal(fp.tracer().trace(pod('198.19.16.41')).output, '');
    assert.equal(await monitor.check(), true);
    assert.equal(flushed, 1);
    for (const t of ['mangle', 'nat', 'filter'] as const) {
      assert.equal(await fp.iptables.chainExists(t, KUBE_PROXY_CANARY), true, t);
    }
    assert.equal(await monitor.check(), false, 'the canaries are back');

    await fp.proxier.syncProxyRules();
    assert.equal(fp.stats.at(-1)?.full, true);
    assert.equal(fp.tracer().trace(pod('198.19.16.41')).output, '198.18.180.1:80');
    await monitor.close();
  });

  test('(g) above 1000 endpoints the per-endpoint comments go', async () => {
    const many = (n: number) =>
      Array.from({ length: n }, (_, i) => ep(`198.18.${200 + Math.floor(i / 250)}.${(i % 250) + 1}`));
    const objs = (n: number) => ({
      services: [service('ns1', 'big', { clusterIP: '198.19.16.50', ports: p80() })],
      slices: [slice80('ns1', 'big', many(n))],
    });
    const sepRules = (input: string) => input.split('\n').filter((l) => l.startsWith('-A KUBE-SEP-'));

    const small = await synced({}, objs(1000));
    assert.equal(small.stats.at(-1)?.endpoints, 1000);
    assert.equal(
      sepRules(small.iptables.lastRestoreInput!).every((l) => l.includes('--comment')),
      true,
    );

    const large = await synced({}, objs(1001));
    const rules = sepRules(large.iptables.lastRestoreInput!);
    assert.equal(rules.length, 2002);
    assert.equal(
      rules.some((l) => l.includes('--comment')),
      false,
    );
    // The service-level comments stay.
    assert.match(
      large.iptables.lastRestoreInput!,
      /-A KUBE-SERVICES -m comment --comment "ns1\/big:p80 cluster IP"/,
    );
    // And, as upstream, no hourly full sync in a large cluster.
    assert.equal(small.proxier.backend.wantsPeriodicFullSync?.(), true);
    assert.equal(large.proxier.backend.wantsPeriodicFullSync?.(), false);
  });

  test('(h) a zone change delivered while restore() awaits makes the next sync full (issue 20)', async () => {
    class GatedIptables extends FakeIptables {
      gate: Promise<void> | undefined;
      entered: (() => void) | undefined;
      override async restore(input: string, opts?: { counters?: boolean }): Promise<void> {
        const gate = this.gate;
        this.gate = undefined;
        if (gate !== undefined) {
          this.entered?.();
          await gate;
        }
        return super.restore(input, opts);
      }
    }
    const iptables = new GatedIptables();
    const zoned = (zone: string) => node(NODE_NAME, [NODE_IP], { 'topology.kubernetes.io/zone': zone });
    const hinted = (ip: string, zone: string) => ({ addresses: [ip], hints: { forZones: [{ name: zone }] } });
    const fp = await synced(
      { iptables },
      {
        services: [
          service('ns', 'zonal', { clusterIP: '198.19.16.120', ports: p80() }),
          service('ns', 'other', { clusterIP: '198.19.16.121', ports: p80() }),
        ],
        slices: [slice80('ns', 'zonal', [hinted('198.18.180.1', 'a'), hinted('198.18.180.2', 'b')])],
      },
    );
    fp.proxier.onNodeUpdate(node(NODE_NAME, [NODE_IP]), zoned('a'));
    await fp.proxier.syncProxyRules();
    assert.equal(fp.tracer().trace(pod('198.19.16.120')).output, '198.18.180.1:80');

    // A partial sync (another service went) is in iptables-restore when the node moves to zone b.
    fp.proxier.onServiceDelete(service('ns', 'other', { clusterIP: '198.19.16.121', ports: p80() }));
    let release!: () => void;
    iptables.gate = new Promise((r) => {
      release = r;
    });
    const entered = new Promise<void>((r) => {
      iptables.entered = r;
    });
    const partial = fp.proxier.syncProxyRules();
    await entered;
    fp.proxier.onNodeUpdate(zoned('a'), zoned('b'));
    release();
    await partial;
    assert.equal(fp.stats.at(-1)?.full, false);
    assert.equal(fp.tracer().trace(pod('198.19.16.120')).output, '198.18.180.1:80');

    await fp.proxier.syncProxyRules();
    assert.equal(fp.stats.at(-1)?.full, true, 'the sync after the zone change must be full');
    assert.equal(fp.tracer().trace(pod('198.19.16.120')).output, '198.18.180.2:80');
  });

  test('(i) IPv6 uses ip6tables semantics: never localhost NodePorts', async () => {
    const nodeIP = 'fd00:19::1';
    const fp = await synced(
      {
        family: 'IPv6',
        iptables: new FakeIptables({ family: 'IPv6' }),
        podCIDR: 'fd00:10::/64',
        localhostNodePorts: true,
      },
      {
        services: [
          service('ns1', 'svc1', {
            type: 'NodePort',
            clusterIP: 'fd00:10:96::41',
            clusterIPs: ['fd00:10:96::41'],
            ipFamilies: ['IPv6'],
            ports: p80(3001),
          }),
        ],
        slices: [slice('ns1', 'svc1', 's1', [{ name: 'p80', port: 80 }], [ep('fd00:10:180::1')], 'IPv6')],
      },
    );
    fp.proxier.onNodeUpdate(node(NODE_NAME, [NODE_IP]), node(NODE_NAME, [nodeIP]));
    await fp.proxier.syncProxyRules();
    const nat = fp.iptables.dump('nat');
    assert.match(
      nat,
      /^-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL ! -d ::1\/128 -j KUBE-NODEPORTS$/m,
    );
    assert.equal(nat.includes('127.0.0.0/8'), false);
    assert.deepEqual(fp.iptables.rules('filter', 'KUBE-FIREWALL') ?? [], []);
    const t = fp.tracer([nodeIP]);
    assert.deepEqual(t.trace({ sourceIP: 'fd00:100::1', destIP: nodeIP, destPort: 3001 }), {
      output: '[fd00:10:180::1]:80',
      masq: true,
    });
    assert.deepEqual(t.trace({ sourceIP: '::1', destIP: '::1', destPort: 3001 }), {
      output: '',
      masq: false,
    });
  });
});
