// Requests that arrive while a sync is awaiting the kernel must survive that sync (issue 20): the
// handlers run between the sync's awaits, so a flag the sync resets at its end would swallow them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { KubeProxyError } from '../../../../src/errors.ts';
import { FakeNftables } from '../../../../src/kernel/nft/fake.ts';
import type { Transaction } from '../../../../src/kernel/nft/transaction.ts';
import type { SyncStats } from '../../../../src/proxy/types.ts';
import { markSyncedAndSync, newFakeProxier } from '../../../support/fake-proxier.ts';
import { NODE_IP, NODE_NAME, node, POD_IP, SERVICE_CIDR, service, slice } from '../../../support/fixtures.ts';
import { ManualClock } from '../../../support/manual-clock.ts';

/** A fake nft whose next run() waits until the test lets it go. */
class GatedNftables extends FakeNftables {
  #gate: Promise<void> | undefined;
  #release: (() => void) | undefined;
  #entered: (() => void) | undefined;

  /** Arms the gate; resolves once a run is blocked in it. */
  holdNextRun(): Promise<void> {
    this.#gate = new Promise((r) => {
      this.#release = r;
    });
    return new Promise((r) => {
      this.#entered = r;
    });
  }

  release(): void {
    this.#release?.();
  }

  override async run(tx: Transaction): Promise<void> {
    const gate = this.#gate;
    if (gate !== undefined) {
      this.#gate = undefined;
      this.#entered?.();
      await gate;
    }
    return super.run(tx);
  }
}

function gatedProxier() {
  const nft = new GatedNftables();
  const stats: SyncStats[] = [];
  const clock = new ManualClock();
  const fp = newFakeProxier({ nft, clock, observer: { synced: (_f, s) => stats.push(s) } });
  return { ...fp, nft, stats, clock };
}

describe('nftables proxier: requests made during a sync', () => {
  test('a ServiceCIDR change delivered while the first full sync awaits nft makes the next sync full', async () => {
    const { proxier: p, nft, stats, tracer } = gatedProxier();
    p.onServiceAdd(service('ns', 'dyn', { clusterIP: '198.19.16.110', ports: [{ name: 'p', port: 80 }] }));
    p.onServicesSynced();
    p.onEndpointSlicesSynced();

    const blocked = nft.holdNextRun();
    const first = p.syncProxyRules();
    await blocked;
    // As on the API source: the CIDRs arrive while the first sync is in the kernel.
    p.onServiceCIDRsChanged([SERVICE_CIDR, '198.19.32.0/20']);
    nft.release();
    await first;
    assert.equal(stats.at(-1)?.full, true);
    assert.equal(tracer().trace({ sourceIP: POD_IP, destIP: '198.19.32.7', destPort: 80 }).output, '');

    await p.syncProxyRules();
    assert.equal(stats.at(-1)?.full, true, 'the sync after the request must be full');
    // The base chains now hold the new CIDR's drop rule: an unallocated ClusterIP in it is dropped.
    assert.equal(tracer().trace({ sourceIP: POD_IP, destIP: '198.19.32.7', destPort: 80 }).output, 'DROP');
  });

  test('a zone change delivered during a partial sync re-categorises endpoints in the next sync', async () => {
    const { proxier: p, nft, stats, tracer } = gatedProxier();
    p.onNodeUpdate(
      node(NODE_NAME, [NODE_IP]),
      node(NODE_NAME, [NODE_IP], { 'topology.kubernetes.io/zone': 'a' }),
    );
    const ports = [{ name: 'p', port: 80 }];
    p.onServiceAdd(service('ns', 'zonal', { clusterIP: '198.19.16.120', ports }));
    const hinted = (ip: string, zone: string) => ({ addresses: [ip], hints: { forZones: [{ name: zone }] } });
    p.onEndpointSliceAdd(
      slice('ns', 'zonal', 'zonal-a', ports, [hinted('198.18.180.1', 'a'), hinted('198.18.180.2', 'b')]),
    );
    p.onServiceAdd(service('ns', 'other', { clusterIP: '198.19.16.121', ports }));
    await markSyncedAndSync(p);
    assert.equal(
      tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.120', destPort: 80 }).output,
      '198.18.180.1:80',
    );

    // A partial sync (another service changed) is in the kernel when the node moves to zone b.
    p.onServiceDelete(service('ns', 'other', { clusterIP: '198.19.16.121', ports }));
    const blocked = nft.holdNextRun();
    const partial = p.syncProxyRules();
    await blocked;
    p.onNodeUpdate(
      node(NODE_NAME, [NODE_IP], { 'topology.kubernetes.io/zone': 'a' }),
      node(NODE_NAME, [NODE_IP], { 'topology.kubernetes.io/zone': 'b' }),
    );
    nft.release();
    await partial;
    assert.equal(stats.at(-1)?.full, false);

    await p.syncProxyRules();
    assert.equal(stats.at(-1)?.full, true, 'the sync after the zone change must be full');
    assert.equal(
      tracer().trace({ sourceIP: POD_IP, destIP: '198.19.16.120', destPort: 80 }).output,
      '198.18.180.2:80',
    );
  });

  test('a failed stale-chain deletion inside a sync still makes the following sync full', async () => {
    const { proxier: p, nft, stats, clock } = gatedProxier();
    const ports = [{ name: 'p', port: 80 }];
    p.onServiceAdd(service('ns', 'a', { clusterIP: '198.19.16.130', ports }));
    p.onEndpointSliceAdd(slice('ns', 'a', 'a-1', ports, [{ addresses: ['198.18.180.1'] }]));
    await markSyncedAndSync(p);
    // Deleting the service leaves its chains stale; they are deleted by a later sync.
    p.onServiceDelete(service('ns', 'a', { clusterIP: '198.19.16.130', ports }));
    await p.syncProxyRules();
    clock.jump(1100); // the stale-chain grace period
    p.onServiceAdd(service('ns', 'b', { clusterIP: '198.19.16.131', ports }));
    nft.failNext = new KubeProxyError('KP_ERR_NFT_FAILED', 'boom');
    await p.syncProxyRules(); // the stale-chain deletion fails; the sync itself succeeds
    assert.equal(stats.at(-1)?.full, false);
    await p.syncProxyRules();
    assert.equal(stats.at(-1)?.full, true, 'chains that could not be deleted are found by a full sync');
  });
});
