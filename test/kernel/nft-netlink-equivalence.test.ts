// The netlink writer against the nft binary on the real kernel: the same transaction applied
// through each into its own fresh namespace must list as the same ruleset, byte for byte; and the
// batch nft itself sends (read with strace) is the fixture the encoder's unit test holds.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { after, describe, test } from 'node:test';
import fc from 'fast-check';
import type { KubeProxyError } from '../../src/errors.ts';
import { NETLINK_NETFILTER, netlinkSocketIn } from '../../src/kernel/netlink/socket.ts';
import { NftNetlink } from '../../src/kernel/nft/netlink/writer.ts';
import { Transaction } from '../../src/kernel/nft/transaction.ts';
import type { EndpointSlice, Service } from '../../src/model/k8s.ts';
import { requireKernel } from '../harness/kernel.ts';
import { markSyncedAndSync, newFakeProxier } from '../support/fake-proxier.ts';
import { ep, NODE_NAME, service, slice } from '../support/fixtures.ts';
import { compareBatches } from '../support/nft-batch-compare.ts';
import { formsTransaction, syncTransactions, syntheticTransaction } from '../support/nft-netlink-fixtures.ts';
import { batchMessages, hasStrace, nftBatch } from '../support/nft-oracle.ts';

const created: string[] = [];
function netns(): string {
  const name = `kpts-eq-${process.pid}-${created.length}`;
  const r = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  created.push(name);
  return name;
}
after(() => {
  for (const n of created) spawnSync('ip', ['netns', 'del', n]);
});

function nft(ns: string, args: string[], input?: string): string {
  const r = spawnSync('ip', ['netns', 'exec', ns, 'nft', ...args], {
    encoding: 'utf8',
    maxBuffer: 512 * 1024 * 1024,
    ...(input !== undefined && { input }),
  });
  if (r.status !== 0) throw new Error(`nft ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** Two fresh namespaces, one programmed by each writer; reused across cases (flushed before each). */
class Pair {
  readonly cli = netns();
  readonly kernel = netns();
  readonly writer = new NftNetlink(netlinkSocketIn(`/run/netns/${this.kernel}`, NETLINK_NETFILTER));

  async apply(tx: Transaction): Promise<{ viaNft: string; viaNetlink: string }> {
    nft(this.cli, ['flush', 'ruleset']);
    nft(this.kernel, ['flush', 'ruleset']);
    nft(this.cli, ['-f', '-'], tx.render());
    await this.writer.run(tx);
    // An element's remaining time depends on when it was listed.
    const list = (ns: string) => nft(ns, ['list', 'ruleset']).replace(/expires \S+/g, 'expires …');
    return { viaNft: list(this.cli), viaNetlink: list(this.kernel) };
  }

  close(): void {
    this.writer.close();
  }
}

function assertSameRuleset(r: { viaNft: string; viaNetlink: string }, what: string): void {
  assert.ok(r.viaNft.includes('table'), `${what}: nft programmed something`);
  if (r.viaNft === r.viaNetlink) return;
  const a = r.viaNft.split('\n');
  const b = r.viaNetlink.split('\n');
  let i = 0;
  while (a[i] === b[i]) i++;
  assert.fail(`${what}: rulesets differ at line ${i + 1}:\n  nft -f:  ${a[i]}\n  netlink: ${b[i]}`);
}

describe('nftables netlink writer', () => {
  test('every sync shape lists the same as through nft -f', async (t) => {
    if (!requireKernel(t)) return;
    const pair = new Pair();
    try {
      for (const [name, tx] of await syncTransactions()) assertSameRuleset(await pair.apply(tx), name);
    } finally {
      pair.close();
    }
  });

  test('a refused batch changes nothing and names the operation; check applies nothing', async (t) => {
    if (!requireKernel(t)) return;
    const pair = new Pair();
    try {
      const base = formsTransaction('ip');
      await pair.writer.run(base);
      const before = nft(pair.kernel, ['list', 'ruleset']).replace(/expires \S+/g, 'expires …');
      // dnat in a chain without a nat hook is valid text but refused by the kernel.
      const bad = new Transaction('ip', 'kube-proxy');
      bad.add({ kind: 'chain', name: 'fresh' });
      bad.add({ kind: 'element', set: 's', key: ['198.18.7.7'] });
      bad.add({ kind: 'chain', name: 'nat-test', base: { type: 'filter', hook: 'input', priority: 0 } });
      bad.add({ kind: 'rule', chain: 'nat-test', rule: 'meta l4proto tcp dnat to 198.18.0.1:80' });
      await assert.rejects(pair.writer.run(bad), (err: KubeProxyError) => {
        assert.equal(err.code, 'KP_ERR_NFT_FAILED');
        assert.match(
          err.message,
          /add rule ip kube-proxy nat-test meta l4proto tcp dnat to 198\.18\.0\.1:80/,
        );
        assert.match(err.message, /EOPNOTSUPP/);
        return true;
      });
      const missing = new Transaction('ip', 'kube-proxy');
      missing.flush({ kind: 'chain', name: 'no-such-chain' });
      await assert.rejects(pair.writer.run(missing), { code: 'KP_ERR_NFT_NOT_FOUND' });
      const ok = new Transaction('ip', 'kube-proxy');
      ok.add({ kind: 'chain', name: 'checked-only' });
      await pair.writer.check(ok);
      await assert.rejects(pair.writer.check(bad), { code: 'KP_ERR_NFT_FAILED' });
      const after = nft(pair.kernel, ['list', 'ruleset']).replace(/expires \S+/g, 'expires …');
      assert.equal(after, before, 'nothing of the refused or checked transactions reached the kernel');
      assert.deepEqual(
        (await pair.writer.listElements('ip', 'kube-proxy', 'aff')).map((e) => [e.key, e.value]),
        [[['198.18.0.9'], ['198.18.1.1']]],
      );
      // A writer that did not create the map reads its type from the kernel.
      const fresh = new NftNetlink(netlinkSocketIn(`/run/netns/${pair.kernel}`, NETLINK_NETFILTER));
      try {
        assert.deepEqual(
          (await fresh.listElements('ip', 'kube-proxy', 'aff')).map((e) => [e.key, e.value]),
          [[['198.18.0.9'], ['198.18.1.1']]],
        );
        assert.deepEqual(
          (await fresh.listElements('ip', 'kube-proxy', 'v')).map((e) => [e.key, e.value]).sort(),
          [
            [['sctp', '9'], ['accept']],
            [['tcp', '30080'], ['goto c1']],
            [['udp', '53'], ['drop']],
          ],
        );
      } finally {
        fresh.close();
      }
      assert.ok(await pair.writer.hasTable('ip', 'kube-proxy'));
      assert.ok(!(await pair.writer.hasTable('ip6', 'kube-proxy')));
      assert.deepEqual((await pair.writer.list('ip', 'kube-proxy', 'chains')).sort(), ['c1', 'c2']);
      assert.deepEqual((await pair.writer.list('ip', 'kube-proxy', 'maps')).sort(), ['aff', 'v']);
      assert.deepEqual(await pair.writer.list('ip', 'kube-proxy', 'sets'), ['s']);
      assert.deepEqual(await pair.writer.list('ip', 'missing', 'chains'), []);
    } finally {
      pair.close();
    }
  });

  test('nft sends the batches the encoding fixtures hold', async (t) => {
    if (!requireKernel(t)) return;
    if (!hasStrace()) {
      if (process.env.CI === 'true')
        assert.fail('CI=true and strace is missing (scripts/setup.sh installs it)');
      t.skip('needs strace');
      return;
    }
    const ns = netns();
    for (const [name, tx] of await syncTransactions()) {
      nft(ns, ['flush', 'ruleset']);
      const bytes = nftBatch(ns, tx.renderLines());
      const file = new URL(`../golden/nft-netlink/${name}.hex`, import.meta.url);
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, `${bytes.toString('hex')}\n`);
      const stored = Buffer.from(readFileSync(file, 'utf8').trim(), 'hex');
      assert.equal(compareBatches(batchMessages(bytes), batchMessages(stored)), undefined, name);
    }
  });

  test('the benchmark cluster (10,000 services x 10 endpoints) lists the same', async (t) => {
    if (!requireKernel(t)) return;
    const pair = new Pair();
    try {
      assertSameRuleset(await pair.apply(await syntheticTransaction(10_000, 10)), '10000x10');
    } finally {
      pair.close();
    }
  });

  test('random clusters list the same (property)', async (t) => {
    if (!requireKernel(t)) return;
    const pair = new Pair();
    const svc = fc.record({
      type: fc.constantFrom('ClusterIP', 'NodePort', 'LoadBalancer'),
      protocol: fc.constantFrom('TCP', 'UDP', 'SCTP'),
      affinity: fc.boolean(),
      local: fc.boolean(),
      ranges: fc.subarray(['198.19.100.0/25', '198.19.0.2/32', '198.19.64.0/18']),
      externalIP: fc.boolean(),
      endpoints: fc.array(fc.record({ host: fc.integer({ min: 1, max: 250 }), local: fc.boolean() }), {
        maxLength: 5,
      }),
    });
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(svc, { minLength: 1, maxLength: 12 }),
          fc.boolean(),
          async (specs, masqAll) => {
            const services: Service[] = [];
            const slices: EndpointSlice[] = [];
            specs.forEach((s, i) => {
              const port = { name: 'p', port: 80 + i, protocol: s.protocol };
              services.push(
                service(
                  'ns',
                  `s${i}`,
                  {
                    type: s.type,
                    clusterIP: `198.19.16.${i + 1}`,
                    ports: [s.type === 'ClusterIP' ? port : { ...port, nodePort: 30000 + i }],
                    ...(s.affinity && { sessionAffinity: 'ClientIP' }),
                    ...(s.local && s.type !== 'ClusterIP' && { externalTrafficPolicy: 'Local' }),
                    ...(s.externalIP && { externalIPs: [`198.19.200.${i + 1}`] }),
                    ...(s.type === 'LoadBalancer' && { loadBalancerSourceRanges: s.ranges }),
                  },
                  s.type === 'LoadBalancer'
                    ? { loadBalancer: { ingress: [{ ip: `198.19.201.${i + 1}` }] } }
                    : undefined,
                ),
              );
              const eps = [...new Map(s.endpoints.map((e) => [e.host, e])).values()];
              slices.push(
                slice(
                  'ns',
                  `s${i}`,
                  `s${i}-a`,
                  [{ name: 'p', port: 8080, protocol: s.protocol }],
                  eps.map((e) => ep(`198.18.${i}.${e.host}`, e.local ? NODE_NAME : 'other')),
                ),
              );
            });
            const fp = newFakeProxier({ masqueradeAll: masqAll });
            for (const s of services) fp.proxier.onServiceAdd(s);
            for (const s of slices) fp.proxier.onEndpointSliceAdd(s);
            await markSyncedAndSync(fp.proxier);
            assertSameRuleset(await pair.apply(fp.nft.lastTransaction!), 'random cluster');
          },
        ),
        { numRuns: 25, seed: 20261204 },
      );
    } finally {
      pair.close();
    }
  });
});
