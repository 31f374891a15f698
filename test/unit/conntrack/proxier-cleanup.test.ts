// The proxier's stale UDP flow cleanup end to end over the fake conntrack: after a sync that
// removed a UDP endpoint, the flows it answered are deleted, and the others stay.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { UDPFlow } from '../../../src/conntrack/stale-flows.ts';
import { FakeConntrack } from '../../support/fake-conntrack.ts';
import { markSyncedAndSync, newFakeProxier } from '../../support/fake-proxier.ts';
import { ep, service, slice } from '../../support/fixtures.ts';

const PORTS = [{ name: 'dns', port: 53, protocol: 'UDP' }];
const VIP = '198.19.16.53';

function flow(client: string, backend: string): UDPFlow {
  return {
    origSrc: client,
    origDst: VIP,
    origSport: 40000,
    origDport: 53,
    replySrc: backend,
    replySport: 53,
  };
}

test('a removed UDP endpoint loses its conntrack flows; the serving one keeps them', async () => {
  const conntrack = new FakeConntrack();
  const cleaned: number[] = [];
  const { proxier: p } = newFakeProxier({
    conntrack,
    observer: { conntrackCleaned: (_f, _ms, deleted) => cleaned.push(deleted) },
  });
  p.onServiceAdd(service('ns', 'dns', { clusterIP: VIP, ports: PORTS }));
  const both = slice('ns', 'dns', 'dns-1', PORTS, [ep('198.18.0.10'), ep('198.18.0.11')]);
  p.onEndpointSliceAdd(both);
  await markSyncedAndSync(p);
  conntrack.add('IPv4', flow('198.18.0.2', '198.18.0.10'), flow('198.18.0.3', '198.18.0.11'));

  p.onEndpointSliceUpdate(both, slice('ns', 'dns', 'dns-1', PORTS, [ep('198.18.0.11')]));
  await p.syncProxyRules();
  assert.deepEqual(conntrack.flows('IPv4'), [flow('198.18.0.3', '198.18.0.11')]);
  assert.deepEqual(
    cleaned,
    [0, 1],
    'the first endpoints of a UDP service clean too, with nothing to delete then',
  );
});
