// `explain service`'s two halves without a kernel: the beliefs the proxier core reports for a
// Service (endpoints per traffic policy, why the others were left out), and the comparison with
// what the kernel holds — here the fake kernels the proxiers of both modes synced into, once as
// synced (no difference) and once tampered with (the difference named).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { parseNftListing } from '../../../src/explain/nft-listing.ts';
import { describePort } from '../../../src/explain/service-beliefs.ts';
import { iptablesKernelView, nftKernelView } from '../../../src/explain/service-kernel.ts';
import type { Endpoint } from '../../../src/model/endpoint.ts';
import type { EndpointSlice, Node, Service } from '../../../src/model/k8s.ts';
import { servicePortsFromService } from '../../../src/model/service-port.ts';
import { MetaProxier } from '../../../src/proxy/meta-proxier.ts';
import { newFakeIptablesProxier } from '../../support/fake-iptables-proxier.ts';
import { markSyncedAndSync, newFakeProxier } from '../../support/fake-proxier.ts';
import { ep, NODE_NAME, service, slice } from '../../support/fixtures.ts';

const WEB = service('demo', 'web', {
  type: 'NodePort',
  clusterIP: '198.19.16.10',
  externalTrafficPolicy: 'Local',
  ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: 30080 }],
});
const WEB_SLICE = slice(
  'demo',
  'web',
  'web-a',
  [{ name: 'http', port: 8080 }],
  [
    ep('198.18.1.10', NODE_NAME),
    ep('198.18.1.11', 'node-b'),
    ep('198.18.1.12', NODE_NAME, { ready: false, serving: false, terminating: false }),
    ep('198.18.1.13', NODE_NAME, { ready: false, serving: true, terminating: true }),
  ],
);

async function synced<P extends { proxier: ReturnType<typeof newFakeProxier>['proxier'] }>(
  fp: P,
): Promise<P> {
  fp.proxier.onServiceAdd(WEB);
  fp.proxier.onServiceAdd(
    service('demo', 'other', { clusterIP: '198.19.16.11', ports: [{ name: 'http', port: 80 }] }),
  );
  fp.proxier.onEndpointSliceAdd(WEB_SLICE);
  await markSyncedAndSync(fp.proxier);
  return fp;
}

const EXPECTED_EXCLUSIONS = [
  ['198.18.1.12:8080', 'cluster', 'not-ready'],
  ['198.18.1.13:8080', 'cluster', 'terminating'],
  ['198.18.1.11:8080', 'local', 'other-node'],
  ['198.18.1.12:8080', 'local', 'not-ready'],
  ['198.18.1.13:8080', 'local', 'terminating'],
];

describe('explain service: the proxy core beliefs', () => {
  test('endpoints chosen per traffic policy, and why each other one was left out', async () => {
    const fp = await synced(newFakeProxier());
    const b = fp.proxier.describeService('demo', 'web');
    assert.ok(b);
    assert.equal(b.family, 'IPv4');
    assert.equal(b.mode, 'nftables');
    assert.equal(b.pendingChanges, 0);
    assert.equal(b.ports.length, 1);
    const p = b.ports[0]!;
    assert.equal(p.name, 'demo/web:http');
    assert.equal(p.nodePort, 30080);
    assert.deepEqual(p.internal, { policy: 'Cluster', verdict: 'endpoints' });
    assert.deepEqual(p.external, { policy: 'Local', verdict: 'endpoints' });
    assert.deepEqual(p.clusterEndpoints, ['198.18.1.10:8080', '198.18.1.11:8080']);
    assert.deepEqual(p.localEndpoints, ['198.18.1.10:8080']);
    assert.deepEqual(
      p.excluded.map((x) => [x.endpoint, x.traffic, x.reason]),
      EXPECTED_EXCLUSIONS,
    );
    assert.match(p.excluded[1]!.detail, /used only while no endpoint is ready/);
    assert.deepEqual(p.chains, { cluster: true, local: true, external: true, firewall: false });
  });

  test('an unknown service, or one with no port of this family, has no beliefs; changes not yet synced are counted', async () => {
    const fp = await synced(newFakeProxier());
    assert.equal(fp.proxier.describeService('demo', 'nope'), undefined);
    assert.equal(newFakeProxier({ family: 'IPv6' }).proxier.describeService('demo', 'web'), undefined);
    fp.proxier.onEndpointSliceDelete(WEB_SLICE);
    // Beliefs are what was last synced (what the kernel should hold), plus the count of what is pending.
    const b = fp.proxier.describeService('demo', 'web')!;
    assert.equal(b.pendingChanges, 1);
    assert.equal(b.ports[0]!.clusterEndpoints.length, 2);
  });

  test('MetaProxier reports each family that has the service', async () => {
    const v4 = await synced(newFakeProxier());
    const v6 = newFakeProxier({ family: 'IPv6' });
    const meta = new MetaProxier([v4.proxier, v6.proxier]);
    const b = meta.describeService('demo', 'web');
    assert.deepEqual(
      b?.families.map((f) => f.family),
      ['IPv4'],
    );
    assert.equal(b?.service, 'demo/web');
    assert.equal(meta.describeService('demo', 'nope'), undefined);
  });

  test('topology: endpoints hinted for another zone are left out with the zone named; no endpoint ready: terminating ones serve', () => {
    const sp = servicePortsFromService(
      service('demo', 'zoned', { clusterIP: '198.19.16.12', ports: [{ name: 'http', port: 80 }] }),
      'IPv4',
    ).ports[0]!;
    const mk = (ip: string, zone: string, o: Partial<Endpoint> = {}): Endpoint => ({
      ip,
      port: 8080,
      key: `${ip}:8080`,
      isLocal: false,
      ready: true,
      serving: true,
      terminating: false,
      zoneHints: new Set([zone]),
      nodeHints: new Set(),
      ...o,
    });
    const p = describePort(sp, [mk('198.18.2.1', 'zone-a'), mk('198.18.2.2', 'zone-b')], {
      name: NODE_NAME,
      zone: 'zone-a',
    });
    assert.equal(p.topology, 'PreferSameZone');
    assert.deepEqual(p.clusterEndpoints, ['198.18.2.1:8080']);
    assert.equal(p.excluded.length, 1);
    assert.equal(p.excluded[0]!.reason, 'other-zone');
    assert.match(p.excluded[0]!.detail, /zone-b.*"zone-a"/);
    assert.deepEqual(p.localEndpoints, []);
    const draining = describePort(
      sp,
      [
        mk('198.18.2.1', 'zone-a', { ready: false, terminating: true }),
        mk('198.18.2.2', 'zone-a', { ready: false, serving: false }),
      ],
      { name: NODE_NAME, zone: 'zone-a' },
    );
    assert.deepEqual(draining.clusterEndpoints, ['198.18.2.1:8080']);
    assert.deepEqual(
      draining.excluded.map((x) => x.reason),
      ['not-ready'],
    );
    const none = describePort(sp, [], { name: NODE_NAME, zone: '' });
    assert.deepEqual(none.internal, { policy: 'Cluster', verdict: 'reject' });
  });
});

describe('explain service: beliefs next to the kernel', () => {
  test('nftables: the kernel listing of the examples holds exactly the beliefs; tampering shows as differences', async () => {
    // The examples/ manifests through a fake proxier on node-a, next to the real kernel's listing
    // of the same manifests (`nft -a list table ip kube-proxy`, captured from a throwaway namespace).
    const fp = newFakeProxier({ hostname: 'node-a' });
    const dir = new URL('../../../examples/', import.meta.url);
    for (const file of ['cluster.yaml', 'web.yaml', 'dns.yaml', 'idle.yaml'])
      for (const doc of parseAllDocuments(readFileSync(new URL(file, dir), 'utf8'))) {
        const o = doc.toJS() as { kind?: string };
        if (o.kind === 'Service') fp.proxier.onServiceAdd(o as Service);
        else if (o.kind === 'EndpointSlice') fp.proxier.onEndpointSliceAdd(o as EndpointSlice);
        else if (o.kind === 'Node') fp.proxier.onNodeAdd(o as Node);
      }
    await markSyncedAndSync(fp.proxier);
    const beliefs = fp.proxier.describeService('demo', 'web')!;
    const listing = readFileSync(
      new URL('../../golden/explain/nft-list-examples-ipv4.txt', import.meta.url),
      'utf8',
    );
    const clean = nftKernelView(beliefs, 'demo/web', parseNftListing(listing));
    assert.deepEqual(clean.differences, []);
    const k = clean.ports[0]!;
    assert.deepEqual(k.clusterEndpoints, beliefs.ports[0]!.clusterEndpoints);
    assert.equal(k.clusterEndpoints?.length, 3);
    assert.deepEqual(
      k.entries.map((e) => `${e.where} ${e.key} : ${e.value}`),
      ['service-ips 198.19.16.10 . tcp . 80 : goto service-AXK6CI2C-demo/web/tcp/http'],
    );
    assert.deepEqual(k.chains, ['service-AXK6CI2C-demo/web/tcp/http']);
    // The idle service's element is its own: no rejection for demo/web.
    const idle = nftKernelView(
      fp.proxier.describeService('demo', 'idle')!,
      'demo/idle',
      parseNftListing(listing),
    );
    assert.deepEqual(idle.differences, []);
    assert.equal(idle.ports[0]!.entries[0]!.where, 'no-endpoint-services');

    // The element moved to another port, one DNAT target gone, a stale element of the service added.
    const tampered = listing
      .replace('198.19.16.10 . tcp . 80 : goto', '198.19.16.10 . tcp . 81 : goto')
      .replace(/^.*dnat to 198\.18\.1\.11:8080.*$/m, '')
      .replace(
        '198.19.16.30 . tcp . 80 comment "demo/idle:http" : goto reject-chain',
        '198.19.16.30 . tcp . 80 comment "demo/idle:http" : goto reject-chain, 198.19.16.10 . tcp . 82 comment "demo/web:old" : drop',
      );
    const view = nftKernelView(beliefs, 'demo/web', parseNftListing(tampered));
    assert.deepEqual(
      view.differences.map((d) => d.kind).sort(),
      ['missing-endpoint', 'missing-entry', 'stale-entry', 'stale-entry'],
      JSON.stringify(view.differences),
    );
    assert.match(view.differences.find((d) => d.kind === 'missing-endpoint')!.detail, /198\.18\.1\.11:8080/);
    assert.deepEqual(
      nftKernelView(beliefs, 'demo/web', undefined).differences.map((d) => d.kind),
      ['missing-table'],
    );
  });

  test('iptables: the synced kernel holds exactly the beliefs; a lost DNAT rule and entry rule show', async () => {
    const fp = await synced(newFakeIptablesProxier());
    const beliefs = fp.proxier.describeService('demo', 'web')!;
    assert.equal(beliefs.mode, 'iptables');
    const save = `${await fp.iptables.save('nat')}${await fp.iptables.save('filter')}`;
    const clean = iptablesKernelView(beliefs, 'demo/web', save);
    assert.deepEqual(clean.differences, []);
    const k = clean.ports[0]!;
    assert.deepEqual(k.clusterEndpoints, ['198.18.1.10:8080', '198.18.1.11:8080']);
    assert.deepEqual(k.localEndpoints, ['198.18.1.10:8080']);
    assert.ok(k.entries.some((e) => e.where === 'nat KUBE-NODEPORTS' && e.key === 'tcp . 30080'));
    const tampered = save
      .split('\n')
      .filter((l) => !/--to-destination 198\.18\.1\.11:8080/.test(l))
      .filter((l) => !(l.startsWith('-A KUBE-SERVICES') && / -d 198\.19\.16\.10(\/32)? /.test(l)))
      .join('\n');
    const view = iptablesKernelView(beliefs, 'demo/web', tampered);
    assert.deepEqual(
      view.differences.map((d) => d.kind).sort(),
      ['missing-endpoint', 'missing-entry'],
      JSON.stringify(view.differences),
    );
  });
});
