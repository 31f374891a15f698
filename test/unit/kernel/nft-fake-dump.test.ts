// FakeNftables.parseDump reads dump() text back: the tables it builds dump to the same text, and
// tests use it to change the fake "kernel" in nft's own words instead of editing its maps.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeProxyError } from '../../../src/errors.ts';
import { FakeNftables } from '../../../src/kernel/nft/fake.ts';
import { markSyncedAndSync } from '../../support/fake-proxier.ts';
import { clusterIPFixture, clusterIPv6Fixture } from '../../support/golden-clusters.ts';

test('parseDump(dump()) gives back the same tables, for both families of the golden cluster', async () => {
  for (const [fp, family] of [
    [clusterIPFixture(), 'ip'],
    [clusterIPv6Fixture(), 'ip6'],
  ] as const) {
    await markSyncedAndSync(fp.proxier);
    const dump = fp.nft.dump(family, 'kube-proxy');
    const copy = new FakeNftables();
    copy.parseDump(dump);
    assert.equal(copy.dump(family, 'kube-proxy'), dump);
  }
});

test('parseDump reads base chains, timeouts, expiries, comments and map values', () => {
  const text = [
    'add table ip t { comment "a table" ; }',
    'add chain ip t pre { type nat hook prerouting priority -100 ; }',
    'add chain ip t svc { comment "a chain" ; }',
    'add map ip t aff { type ipv4_addr : ipv4_addr ; flags dynamic,timeout ; timeout 10800s ; }',
    'add rule ip t pre ip daddr 198.19.16.1 jump svc comment "to svc"',
    'add element ip t aff { 198.18.1.1 expires 500s comment "c" : 198.18.180.1 }',
  ].join('\n');
  const nft = new FakeNftables();
  const generation = nft.generation;
  nft.parseDump(text);
  assert.equal(nft.generation, generation + 1, 'a change behind the proxy: the generation moves on');
  assert.equal(nft.runCount, 0);
  const t = nft.tables.get('ip t')!;
  assert.equal(t.comment, 'a table');
  assert.deepEqual(t.chains.get('pre')!.def.base, { type: 'nat', hook: 'prerouting', priority: -100 });
  assert.deepEqual(t.chains.get('pre')!.rules, [
    { rule: 'ip daddr 198.19.16.1 jump svc', comment: 'to svc' },
  ]);
  assert.equal(t.chains.get('svc')!.def.comment, 'a chain');
  const aff = t.sets.get('aff')!;
  assert.deepEqual(aff.def, {
    kind: 'map',
    name: 'aff',
    type: 'ipv4_addr : ipv4_addr',
    flags: ['dynamic', 'timeout'],
    timeoutSeconds: 10800,
  });
  assert.deepEqual(aff.elements.get('198.18.1.1'), {
    key: ['198.18.1.1'],
    value: '198.18.180.1',
    comment: 'c',
    expiresSeconds: 500,
  });
  nft.parseDump('');
  assert.equal(nft.tables.size, 0, 'an empty dump: no tables');
});

test('parseDump refuses what the kernel would: a line it cannot read, a jump to a missing chain', () => {
  const nft = new FakeNftables();
  assert.throws(
    () => nft.parseDump('add whatever'),
    (e: unknown) => e instanceof KubeProxyError && e.code === 'KP_ERR_NFT_INVALID',
  );
  assert.throws(
    () => nft.parseDump('add table ip t\nadd chain ip t a\nadd rule ip t a jump b'),
    (e: unknown) => e instanceof KubeProxyError && e.code === 'KP_ERR_NFT_NOT_FOUND',
  );
});
