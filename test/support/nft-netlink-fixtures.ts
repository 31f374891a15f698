// Transactions the netlink writer is held to: full syncs of clusters of every shape the renderer
// knows (both families, all service types and policies, affinity, source ranges, the interface
// local detectors), a hand-written one with the operations a sync never combines in one
// transaction (deletes, element expiry), and the benchmark's synthetic cluster.
import { syntheticCluster } from '../../bench/synthetic.ts';
import { FakeNftables } from '../../src/kernel/nft/fake.ts';
import { Transaction } from '../../src/kernel/nft/transaction.ts';
import type { EndpointSlice, Service } from '../../src/model/k8s.ts';
import {
  detectLocalByBridgeInterface,
  detectLocalByInterfaceNamePrefix,
} from '../../src/proxy/local-detector.ts';
import type { IPFamily } from '../../src/util/ip.ts';
import { markSyncedAndSync, newFakeProxier } from './fake-proxier.ts';
import { ep, NODE_IP, NODE_NAME, service, slice } from './fixtures.ts';
import { clusterIPFixture, clusterIPv6Fixture } from './golden-clusters.ts';

const v6 = (ip: string) => `fd00::${ip.replaceAll('.', ':')}`;

function objects(family: IPFamily): { services: Service[]; slices: EndpointSlice[] } {
  const a = (ip: string) => (family === 'IPv4' ? ip : v6(ip));
  const fam = { ipFamilies: [family] };
  const services: Service[] = [
    service('ns1', 'cip', { clusterIP: a('198.19.16.41'), ...fam, ports: [{ name: 'p80', port: 80 }] }),
    service('ns1', 'aff', {
      clusterIP: a('198.19.16.42'),
      ...fam,
      sessionAffinity: 'ClientIP',
      sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } },
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'sctp', port: 53, protocol: 'SCTP' },
      ],
    }),
    service('ns2', 'np', {
      type: 'NodePort',
      clusterIP: a('198.19.16.43'),
      ...fam,
      externalIPs: [a('198.19.200.1')],
      ports: [{ name: 'p', port: 80, nodePort: 30080 }],
    }),
    service(
      'ns2',
      'lb',
      {
        type: 'LoadBalancer',
        clusterIP: a('198.19.16.44'),
        ...fam,
        externalTrafficPolicy: 'Local',
        internalTrafficPolicy: 'Local',
        healthCheckNodePort: 30000,
        loadBalancerSourceRanges:
          family === 'IPv4' ? ['198.19.100.0/25', `${NODE_IP}/32`] : ['fd00:198:19:100::/64', 'fd00:1::/100'],
        ports: [{ name: 'p', port: 80, nodePort: 30081 }],
      },
      { loadBalancer: { ingress: [{ ip: a('198.19.201.1') }] } },
    ),
    service('ns3', 'empty', { clusterIP: a('198.19.16.45'), ...fam, ports: [{ name: 'p', port: 8080 }] }),
  ];
  const addressType = family;
  const slices = [
    slice(
      'ns1',
      'cip',
      'cip-a',
      [{ name: 'p80', port: 8080 }],
      [ep(a('198.18.1.1')), ep(a('198.18.1.2'), NODE_NAME)],
      addressType,
    ),
    slice(
      'ns1',
      'aff',
      'aff-a',
      [
        { name: 'dns', port: 5353, protocol: 'UDP' },
        { name: 'sctp', port: 5353, protocol: 'SCTP' },
      ],
      [ep(a('198.18.2.1'), NODE_NAME), ep(a('198.18.2.2'), 'other')],
      addressType,
    ),
    slice('ns2', 'np', 'np-a', [{ name: 'p', port: 80 }], [ep(a('198.18.3.1'), 'other')], addressType),
    slice(
      'ns2',
      'lb',
      'lb-a',
      [{ name: 'p', port: 80 }],
      [ep(a('198.18.4.1'), NODE_NAME), ep(a('198.18.4.2'), 'other'), ep(a('198.18.4.3'), NODE_NAME)],
      addressType,
    ),
  ];
  return { services, slices };
}

/** The first (full) sync's transaction of a fake proxier holding the objects. */
async function firstSync(
  objs: { services: Service[]; slices: EndpointSlice[] },
  overrides: Parameters<typeof newFakeProxier>[0] = {},
): Promise<Transaction> {
  const fp = newFakeProxier(overrides);
  const p = fp.proxier;
  for (const s of objs.services) p.onServiceAdd(s);
  for (const s of objs.slices) p.onEndpointSliceAdd(s);
  await markSyncedAndSync(p);
  return fp.nft.lastTransaction!;
}

/** The first syncs of the golden rulesets' clusters, with the fake's dump the unit test checks. */
export async function goldenTransactions(): Promise<Map<string, { tx: Transaction; dump: string }>> {
  const out = new Map<string, { tx: Transaction; dump: string }>();
  for (const [name, fixture, family] of [
    ['nftables-clusterip-ipv4', clusterIPFixture, 'ip'],
    ['nftables-clusterip-ipv6', clusterIPv6Fixture, 'ip6'],
  ] as const) {
    const fp = fixture();
    await markSyncedAndSync(fp.proxier);
    out.set(name, { tx: fp.nft.lastTransaction!, dump: fp.nft.dump(family, 'kube-proxy') });
  }
  return out;
}

/** Every sync shape, one transaction each, by name. */
export async function syncTransactions(): Promise<Map<string, Transaction>> {
  const out = new Map<string, Transaction>();
  for (const [name, g] of await goldenTransactions()) out.set(name, g.tx);
  out.set('cluster-ipv4', await firstSync(objects('IPv4')));
  out.set('cluster-ipv6', await firstSync(objects('IPv6'), { family: 'IPv6', podCIDR: 'fd00:198:18::/64' }));
  out.set(
    'masquerade-all-bridge-ipv4',
    await firstSync(objects('IPv4'), {
      masqueradeAll: true,
      localDetector: detectLocalByBridgeInterface('cbr0'),
      nodePortAddresses: [],
    }),
  );
  out.set(
    'prefix-detector-ipv6',
    await firstSync(objects('IPv6'), {
      family: 'IPv6',
      localDetector: detectLocalByInterfaceNamePrefix('veth'),
      nodePortAddresses: [],
    }),
  );
  out.set('forms-ipv4', formsTransaction('ip'));
  out.set('forms-ipv6', formsTransaction('ip6'));
  return out;
}

/** Operations no single sync combines: deletes of each kind, flushes, element expiry and comments. */
export function formsTransaction(family: 'ip' | 'ip6'): Transaction {
  const a = (ip: string) => (family === 'ip' ? ip : v6(ip));
  const addr = family === 'ip' ? 'ipv4_addr' : 'ipv6_addr';
  const tx = new Transaction(family, 'kube-proxy');
  tx.add({ kind: 'table', comment: 'rules for kube-proxy' });
  tx.add({ kind: 'chain', name: 'c1', comment: 'a chain' });
  tx.add({ kind: 'chain', name: 'c2' });
  tx.add({ kind: 'chain', name: 'gone' });
  tx.flush({ kind: 'chain', name: 'c2' });
  tx.delete({ kind: 'chain', name: 'gone' });
  tx.add({ kind: 'set', name: 's', type: addr, comment: 'a set' });
  tx.add({
    kind: 'map',
    name: 'aff',
    type: `${addr} : ${addr}`,
    flags: ['dynamic', 'timeout'],
    timeoutSeconds: 60,
  });
  tx.add({ kind: 'map', name: 'v', type: 'inet_proto . inet_service : verdict' });
  tx.add({ kind: 'set', name: 'tmp', type: addr });
  tx.delete({ kind: 'set', name: 'tmp', type: addr });
  tx.flush({ kind: 'set', name: 's', type: addr });
  tx.add({ kind: 'element', set: 's', key: [a('198.18.0.1')], comment: 'ns/svc:p' });
  tx.add({ kind: 'element', set: 's', key: [a('198.18.0.2')] });
  tx.delete({ kind: 'element', set: 's', key: [a('198.18.0.2')] });
  tx.add({ kind: 'element', set: 'aff', key: [a('198.18.0.9')], value: a('198.18.1.1'), expiresSeconds: 30 });
  tx.add({ kind: 'element', set: 'v', key: ['tcp', '30080'], value: 'goto c1' });
  tx.add({ kind: 'element', set: 'v', key: ['udp', '53'], value: 'drop' });
  tx.add({ kind: 'element', set: 'v', key: ['sctp', '9'], value: 'accept' });
  tx.add({
    kind: 'rule',
    chain: 'c1',
    rule: `${family} saddr != ${a('198.18.0.0')}/${family === 'ip' ? 20 : 100} jump c2`,
  });
  tx.add({ kind: 'rule', chain: 'c1', rule: `iifname eth0 ${family} daddr ${a('198.19.0.1')} return` });
  tx.add({ kind: 'rule', chain: 'c1', rule: 'fib saddr type local accept', comment: 'local' });
  tx.add({
    kind: 'rule',
    chain: 'c2',
    rule: `${family} daddr { ${a('198.19.0.0')}/16, ${a('198.19.1.7')} } drop`,
  });
  return tx;
}

/** The benchmark's synthetic cluster, as its first sync. */
export async function syntheticTransaction(services: number, endpoints: number): Promise<Transaction> {
  const cluster = syntheticCluster(services, endpoints);
  return firstSync(cluster, { nft: new FakeNftables() });
}
