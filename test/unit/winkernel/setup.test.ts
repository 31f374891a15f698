// prepareWinkernel's waits on a manual clock: the search for the HNS network retries every second
// until it exists (as upstream), and an overlay network gets its settle time before it is read again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prepareWinkernel } from '../../../src/backends/winkernel/setup.ts';
import { HnsModel } from '../../../src/kernel/hns/model.ts';
import { ManualClock } from '../../support/manual-clock.ts';
import { settled } from '../../support/settled.ts';
import { plainSetupOptions, testHnsNetwork, testNetwork } from './fixtures.ts';

function prepare(hcn: HnsModel, clock: ManualClock, networkAttempts?: number) {
  return settled(
    prepareWinkernel({
      ...plainSetupOptions(hcn, { sourceVip: '198.18.101.2' }),
      hostMac: () => '00-11-22-33-44-55',
      clock,
      networkAttempts: networkAttempts ?? Number.POSITIVE_INFINITY,
    }),
  );
}

test('the network is looked for again every second until it exists', async () => {
  const hcn = new HnsModel();
  const clock = new ManualClock();
  const p = prepare(hcn, clock);
  await clock.advance(2999);
  assert.equal(p.outcome, undefined, 'still looking after three tries');
  hcn.setNetwork(testHnsNetwork('L2Bridge'));
  assert.equal(p.outcome, undefined, 'the next try is due at 3000 ms');
  await clock.advance(1);
  const prepared = await p.promise;
  assert.equal(prepared.network.name, testNetwork);
});

test('with networkAttempts the search gives up with KP_ERR_HNS', async () => {
  const clock = new ManualClock();
  const p = prepare(new HnsModel(), clock, 2);
  await clock.advance(1000);
  await assert.rejects(p.promise, (err: Error & { code?: string }) => err.code === 'KP_ERR_HNS');
});

test('an overlay network is read again after the settle time (10 s, as upstream)', async () => {
  const hcn = new HnsModel({ networks: [testHnsNetwork('Overlay')] });
  const clock = new ManualClock();
  const p = prepare(hcn, clock);
  await clock.advance(9999);
  assert.equal(p.outcome, undefined, 'still settling');
  await clock.advance(1);
  assert.equal((await p.promise).network.networkType, 'Overlay');
});
