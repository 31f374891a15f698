// The canary monitor: deleted canary chains (as upstream) and a missing sentinel jump rule (a flush
// that keeps the chains, which upstream does not notice) both force one full resync.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CanaryMonitor } from '../../../../src/backends/iptables/canary.ts';
import { FakeIptables } from '../../../../src/kernel/iptables/fake.ts';
import { silentLogger } from '../../../../src/log/logger.ts';
import { frozenClock } from '../../../support/fake-proxier.ts';

const SENTINEL = { table: 'nat' as const, chain: 'PREROUTING', args: ['-j', 'KUBE-SERVICES'] };

async function monitor(armed: () => boolean) {
  const ipt = new FakeIptables();
  await ipt.ensureChain('nat', 'KUBE-SERVICES');
  await ipt.ensureRule('nat', 'PREROUTING', SENTINEL.args, 'prepend');
  let flushed = 0;
  const m = new CanaryMonitor({
    iptables: ipt,
    logger: silentLogger,
    intervalMs: 1000,
    onFlushed: () => flushed++,
    sentinel: SENTINEL,
    armed,
    clock: frozenClock,
  });
  await m.start();
  return { ipt, m, flushed: () => flushed };
}

describe('CanaryMonitor', () => {
  test('nothing happens while the canaries and the sentinel are there', async () => {
    const { m, flushed } = await monitor(() => true);
    assert.equal(await m.check(), false);
    assert.equal(flushed(), 0);
  });

  test('a deleted canary chain forces a resync and the canaries come back', async () => {
    const { ipt, m, flushed } = await monitor(() => true);
    await ipt.deleteChain('filter', 'KUBE-PROXY-CANARY');
    assert.equal(await m.check(), true);
    assert.equal(flushed(), 1);
    assert.equal(await ipt.chainExists('filter', 'KUBE-PROXY-CANARY'), true);
    assert.equal(await m.check(), false, 'one flush, one resync');
  });

  test('a missing sentinel rule forces a resync once our rules were synced, not before', async () => {
    let armed = false;
    const { ipt, m, flushed } = await monitor(() => armed);
    await ipt.deleteRule('nat', 'PREROUTING', SENTINEL.args);
    assert.equal(await m.check(), false, 'before the first sync the jump rules are not ours to expect');
    armed = true;
    assert.equal(await m.check(), true);
    assert.equal(flushed(), 1);
  });
});
