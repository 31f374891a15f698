// The drift check: every syncPeriod the nftables proxier compares the kernel's table with what it
// last wrote and repairs a difference with a full sync, counting it; nothing else happens when the
// kernel still holds what was written.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeNftables } from '../../../../src/kernel/nft/fake.ts';
import type { SyncObserver } from '../../../../src/proxy/types.ts';
import { newFakeProxier } from '../../../support/fake-proxier.ts';
import { ep, NODE_NAME, POD_IP, service, slice } from '../../../support/fixtures.ts';
import { ManualClock } from '../../../support/manual-clock.ts';

const SYNC_PERIOD = 30_000;

function fixture() {
  const clock = new ManualClock();
  const drift: string[] = [];
  const observer: SyncObserver = { drift: (family, mode) => drift.push(`${family} ${mode}`) };
  const nft = new FakeNftables();
  const fp = newFakeProxier({ nft, clock, observer, syncPeriodMs: SYNC_PERIOD });
  const p = fp.proxier;
  p.onServiceAdd(
    service('ns1', 'svc1', {
      clusterIP: '198.19.16.41',
      ports: [{ name: 'p80', port: 80 }],
      type: 'NodePort',
    }),
  );
  p.onServiceAdd(
    service('ns2', 'svc2', {
      clusterIP: '198.19.16.42',
      ports: [{ name: 'p80', port: 80 }],
      sessionAffinity: 'ClientIP',
    }),
  );
  p.onEndpointSliceAdd(
    slice(
      'ns1',
      'svc1',
      'svc1-a',
      [{ name: 'p80', port: 80 }],
      [ep('198.18.180.1', NODE_NAME), ep('198.18.180.2')],
    ),
  );
  p.onEndpointSliceAdd(slice('ns2', 'svc2', 'svc2-a', [{ name: 'p80', port: 80 }], [ep('198.18.180.3')]));
  p.onServicesSynced();
  p.onEndpointSlicesSynced();
  const trace = () => fp.tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.41', destPort: 80 }).output;
  return { clock, drift, nft, fp, p, trace };
}

/** A dump without the lines that start with `prefix`. */
function without(dump: string, prefix: string): string {
  const lines = dump.split('\n');
  const kept = lines.filter((l) => !l.startsWith(prefix));
  assert.ok(kept.length < lines.length, `no line starts with ${prefix}`);
  return kept.join('\n');
}

describe('nftables drift check', () => {
  test('the kernel still holds what was written: a tick neither syncs nor counts', async () => {
    const f = fixture();
    await f.clock.advance(0);
    const runs = f.nft.runCount;
    assert.ok(runs >= 1);
    await f.clock.advance(SYNC_PERIOD * 3);
    assert.equal(f.nft.runCount, runs);
    assert.deepEqual(f.drift, []);
    await f.p.close();
  });

  test('a deleted table is rewritten within one sync period, and counted', async () => {
    const f = fixture();
    await f.clock.advance(0);
    assert.equal(f.trace(), '198.18.180.1:80, 198.18.180.2:80');
    f.nft.parseDump(''); // the table is gone
    await f.clock.advance(SYNC_PERIOD);
    assert.deepEqual(f.drift, ['IPv4 nftables']);
    assert.equal(f.trace(), '198.18.180.1:80, 198.18.180.2:80');
    // Repaired: the next tick finds nothing.
    await f.clock.advance(SYNC_PERIOD);
    assert.deepEqual(f.drift, ['IPv4 nftables']);
    await f.p.close();
  });

  test('a flushed chain is rewritten within one sync period', async () => {
    const f = fixture();
    await f.clock.advance(0);
    const t = f.nft.tables.get('ip kube-proxy')!;
    const chain = [...t.chains.keys()].find(
      (c) => c.startsWith('service-') && c.endsWith('-ns1/svc1/tcp/p80'),
    )!;
    assert.ok(chain, 'the service chain of ns1/svc1');
    f.nft.parseDump(without(f.nft.dump('ip', 'kube-proxy'), `add rule ip kube-proxy ${chain} `));
    // Not DNATed, the packet meets the "invalid port of a ClusterIP" reject.
    assert.equal(f.trace(), 'REJECT');
    await f.clock.advance(SYNC_PERIOD);
    assert.deepEqual(f.drift, ['IPv4 nftables']);
    assert.equal(f.trace(), '198.18.180.1:80, 198.18.180.2:80');
    await f.p.close();
  });

  test('a removed map element is put back within one sync period', async () => {
    const f = fixture();
    await f.clock.advance(0);
    f.nft.parseDump(
      without(f.nft.dump('ip', 'kube-proxy'), 'add element ip kube-proxy service-ips { 198.19.16.41 '),
    );
    // Without its service-ips element the ClusterIP is "an invalid port" of an active ClusterIP.
    assert.equal(f.trace(), 'REJECT');
    await f.clock.advance(SYNC_PERIOD);
    assert.deepEqual(f.drift, ['IPv4 nftables']);
    assert.equal(f.trace(), '198.18.180.1:80, 198.18.180.2:80');
    await f.p.close();
  });

  test('entries the data path adds to affinity maps are not drift', async () => {
    const f = fixture();
    await f.clock.advance(0);
    const t = f.nft.tables.get('ip kube-proxy')!;
    const affinity = [...t.sets.values()].find((s) => s.def.name.startsWith('affinity-'));
    assert.ok(affinity, 'svc2 has an affinity map');
    f.nft.parseDump(
      `${f.nft.dump('ip', 'kube-proxy')}add element ip kube-proxy ${affinity.def.name} { 198.18.0.9 : 198.18.180.3 }\n`,
    );
    const runs = f.nft.runCount;
    await f.clock.advance(SYNC_PERIOD);
    assert.deepEqual(f.drift, []);
    assert.equal(f.nft.runCount, runs);
    await f.p.close();
  });

  test('partial syncs keep the record exact: no false drift after changes and stale chain deletion', async () => {
    const f = fixture();
    await f.clock.advance(0);
    // Endpoints change, a service goes, another gets affinity removed, a NodePort is added.
    f.p.onEndpointSliceUpdate(
      slice('ns1', 'svc1', 'svc1-a', [{ name: 'p80', port: 80 }], []),
      slice('ns1', 'svc1', 'svc1-a', [{ name: 'p80', port: 80 }], [ep('198.18.180.7')]),
    );
    await f.clock.advance(1);
    f.p.onServiceDelete(
      service('ns2', 'svc2', { clusterIP: '198.19.16.42', ports: [{ name: 'p80', port: 80 }] }),
    );
    await f.clock.advance(1);
    f.p.onServiceAdd(
      service('ns3', 'svc3', {
        clusterIP: '198.19.16.43',
        ports: [{ name: 'p53', port: 53, protocol: 'UDP' }],
      }),
    );
    await f.clock.advance(1);
    // Stale chains are deleted by a later sync, at least a second after their flush.
    f.p.onEndpointSliceAdd(slice('ns3', 'svc3', 'svc3-a', [{ name: 'p53', port: 53, protocol: 'UDP' }], []));
    await f.clock.advance(2000);
    const runs = f.nft.runCount;
    await f.clock.advance(SYNC_PERIOD);
    assert.deepEqual(f.drift, []);
    assert.equal(f.nft.runCount, runs);
    assert.equal(f.trace(), '198.18.180.7:80');
    await f.p.close();
  });

  test('a tick where the generation is unchanged does not count the table', async () => {
    const f = fixture();
    await f.clock.advance(0);
    let counted = 0;
    const original = f.nft.tableCounts.bind(f.nft);
    f.nft.tableCounts = async (fam, table, unless) => {
      const r = await original(fam, table, unless);
      if (!r?.unchanged) counted++;
      return r;
    };
    await f.clock.advance(SYNC_PERIOD); // first check counts
    await f.clock.advance(SYNC_PERIOD); // nothing committed since: not counted
    await f.clock.advance(SYNC_PERIOD);
    assert.equal(counted, 1);
    await f.p.close();
  });
});
