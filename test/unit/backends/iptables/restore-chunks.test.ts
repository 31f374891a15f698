// A large sync in parts (iptables-nft): each part applies on its own (every chain it jumps to
// exists), the result equals a single restore, and stale chains go only in the last part.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeIptables } from '../../../../src/kernel/iptables/fake.ts';
import { newFakeIptablesProxier } from '../../../support/fake-iptables-proxier.ts';
import { markSyncedAndSync } from '../../../support/fake-proxier.ts';
import { ep, NODE_NAME, POD_IP, service, slice } from '../../../support/fixtures.ts';

const P = [{ name: 'p80', port: 80 }];

/** The table's chains and rules, ignoring the order in which chains were created (rule order within a chain stays). */
function state(ipt: FakeIptables, table: 'filter' | 'nat'): string[] {
  return ipt
    .dump(table)
    .split('\n')
    .filter((l) => l.startsWith(':') || l.startsWith('-A'))
    .map((l, i) => (l.startsWith(':') ? l : `${l.split(' ')[1]} ${String(i).padStart(6, '0')} ${l}`))
    .sort()
    .map((l) => (l.startsWith(':') ? l : l.slice(l.indexOf(' ', l.indexOf(' ') + 1) + 1)));
}

/** Runs a check after every restore: what the kernel holds between the parts of a sync. */
class WatchedIptables extends FakeIptables {
  afterRestore: ((input: string) => void) | undefined;
  override async restore(input: string, opts?: { counters?: boolean }): Promise<void> {
    await super.restore(input, opts);
    this.afterRestore?.(input);
  }
}

async function cluster(n: number, opts: { chunkLines?: number; iptables?: FakeIptables } = {}) {
  const fp = newFakeIptablesProxier({
    ...(opts.chunkLines !== undefined && { restoreChunkLines: opts.chunkLines }),
    ...(opts.iptables && { iptables: opts.iptables }),
  });
  const p = fp.proxier;
  for (let i = 0; i < n; i++) {
    p.onServiceAdd(
      service('ns', `s${i}`, {
        clusterIP: `198.19.16.${i + 10}`,
        type: i % 3 === 0 ? 'NodePort' : 'ClusterIP',
        ports: [{ ...P[0]!, ...(i % 3 === 0 && { nodePort: 30000 + i }) }],
        ...(i % 4 === 0 && { sessionAffinity: 'ClientIP' }),
      }),
    );
    p.onEndpointSliceAdd(
      slice('ns', `s${i}`, `s${i}-a`, P, [ep(`198.18.1.${i + 1}`), ep(`198.18.2.${i + 1}`, NODE_NAME)]),
    );
  }
  await markSyncedAndSync(p);
  return fp;
}

describe('restores in parts (mixed service shapes)', () => {
  test('small syncs are one restore', async () => {
    const fp = await cluster(3, { chunkLines: 5000 });
    assert.equal(fp.iptables.restoreCount, 1);
  });

  test('parts apply one by one on an empty node and end where the single restore ends', async () => {
    // The fake refuses jumps to missing chains, as the kernel does: each part must stand alone.
    const parts = await cluster(40, { chunkLines: 30 });
    const whole = await cluster(40);
    assert.ok(parts.iptables.restoreCount > 5, `${parts.iptables.restoreCount} restores`);
    for (const t of ['filter', 'nat'] as const)
      assert.deepEqual(state(parts.iptables, t), state(whole.iptables, t), t);
    // Only the last part writes the fixed chains.
    assert.match(parts.iptables.lastRestoreInput!, /KUBE-SERVICES/);
  });

  test('on a node with rules, every part keeps traffic flowing and stale chains go last', async () => {
    const ipt = new WatchedIptables();
    const fp = await cluster(40, { chunkLines: 30, iptables: ipt });
    fp.proxier.onServiceDelete(service('ns', 's0', { clusterIP: '198.19.16.10', ports: P }));
    fp.proxier.forceFullSync();
    const inputs: string[] = [];
    ipt.afterRestore = (input) => {
      inputs.push(input);
      // A service that stays answers at every step.
      assert.equal(
        fp.tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.30', destPort: 80 }).output,
        '198.18.1.21:80, 198.18.2.21:80',
      );
    };
    await fp.proxier.syncProxyRules();
    assert.ok(inputs.length > 5, `${inputs.length} restores`);
    for (const input of inputs.slice(0, -1)) {
      assert.doesNotMatch(input, /^-X /m);
      assert.doesNotMatch(input, /KUBE-SERVICES|KUBE-NODEPORTS|^\*filter/m);
    }
    assert.match(inputs.at(-1)!, /^-X KUBE-SVC-/m);
  });
});

describe('iptables backend: many changed services go in passes', () => {
  async function synced(chunkLines?: number) {
    const fp = newFakeIptablesProxier(chunkLines === undefined ? {} : { restoreChunkLines: chunkLines });
    const p = fp.proxier;
    for (let i = 0; i < 40; i++) {
      p.onServiceAdd(service('ns', `s${i}`, { clusterIP: `198.19.16.${i + 10}`, ports: P }));
      p.onEndpointSliceAdd(
        slice('ns', `s${i}`, `s${i}-a`, P, [ep(`198.18.1.${i + 1}`), ep(`198.18.2.${i + 1}`)]),
      );
    }
    await markSyncedAndSync(p);
    return fp;
  }

  test('a cold sync in passes ends where a single restore ends, and every pass applies alone', async () => {
    const inPasses = await synced(60);
    const inOne = await synced();
    assert.ok(inPasses.iptables.restoreCount > 5, `${inPasses.iptables.restoreCount} restores`);
    assert.equal(inOne.iptables.restoreCount, 1);
    for (const t of ['filter', 'nat'] as const)
      assert.deepEqual(state(inPasses.iptables, t), state(inOne.iptables, t), t);
    assert.equal(
      inPasses.tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.30', destPort: 80 }).output,
      '198.18.1.21:80, 198.18.2.21:80',
    );
  });

  test('a full resync in passes keeps the same state and deletes stale chains in the last restore', async () => {
    const fp = await synced(60);
    fp.proxier.onServiceDelete(service('ns', 's0', { clusterIP: '198.19.16.10', ports: P }));
    fp.proxier.forceFullSync();
    await fp.proxier.syncProxyRules();
    const ref = await synced();
    ref.proxier.onServiceDelete(service('ns', 's0', { clusterIP: '198.19.16.10', ports: P }));
    await ref.proxier.syncProxyRules();
    for (const t of ['filter', 'nat'] as const)
      assert.deepEqual(state(fp.iptables, t), state(ref.iptables, t), t);
    assert.match(fp.iptables.lastRestoreInput!, /^-X KUBE-SVC-/m);
    assert.equal(fp.tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.10', destPort: 80 }).output, '');
  });
});

describe('chains retired by the render cache', () => {
  test('an endpoint chain deleted by a full sync and needed again in the next partial sync stays', async () => {
    const failures: unknown[] = [];
    const fp = newFakeIptablesProxier({ observer: { failed: (_f, err) => failures.push(err) } });
    const p = fp.proxier;
    const two = slice('ns', 'web', 'web-a', P, [ep('198.18.1.1'), ep('198.18.1.2')]);
    const one = slice('ns', 'web', 'web-a', P, [ep('198.18.1.1')]);
    p.onServiceAdd(service('ns', 'web', { clusterIP: '198.19.16.10', ports: P }));
    p.onEndpointSliceAdd(two);
    await markSyncedAndSync(p);
    // The endpoint goes; a full sync (which asks the kernel for stale chains) deletes its chain.
    p.onEndpointSliceUpdate(two, one);
    p.forceFullSync();
    await p.syncProxyRules();
    // It comes back in a partial sync: its chain must not be retired again.
    p.onEndpointSliceUpdate(one, two);
    const restores = fp.iptables.restoreCount;
    await p.syncProxyRules();
    assert.equal(fp.iptables.restoreCount, restores + 1);
    assert.doesNotMatch(fp.iptables.lastRestoreInput!, /^-X /m, fp.iptables.lastRestoreInput);
    assert.deepEqual(failures, []);
    assert.equal(
      fp.tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.10', destPort: 80 }).output,
      '198.18.1.1:80, 198.18.1.2:80',
    );
  });
});
