import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Node } from '../../../src/model/k8s.ts';
import {
  fatalNodeChange,
  nodeHostIPs,
  nodeState,
  podCIDRsOf,
} from '../../../src/sources/kubernetes/node-manager.ts';

const node = (addresses: [string, string][], podCIDRs?: string[], labels?: Record<string, string>): Node => ({
  metadata: { name: 'node-a', ...(labels && { labels }) },
  spec: podCIDRs ? { podCIDRs } : {},
  status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
});

test('GetNodeHostIPs: InternalIPs before ExternalIPs, first of each family, canonical text', () => {
  assert.deepEqual(
    nodeHostIPs(
      node([
        ['Hostname', 'a'],
        ['ExternalIP', '198.19.99.1'],
        ['InternalIP', '198.19.0.2'],
      ]),
    ),
    ['198.19.0.2'],
  );
  assert.deepEqual(
    nodeHostIPs(
      node([
        ['InternalIP', 'fd00:0:0::2'],
        ['InternalIP', '198.19.0.2'],
        ['InternalIP', '198.19.0.3'],
      ]),
    ),
    ['fd00::2', '198.19.0.2'],
  );
  assert.deepEqual(
    nodeHostIPs(
      node([
        ['ExternalIP', '198.19.99.1'],
        ['InternalIP', 'bogus'],
      ]),
    ),
    ['198.19.99.1'],
  );
  assert.deepEqual(nodeHostIPs(node([['Hostname', 'node-a']])), []);
  assert.deepEqual(nodeHostIPs(undefined), []);
});

test('pod CIDRs are spec.podCIDRs (not the legacy podCIDR)', () => {
  assert.deepEqual(podCIDRsOf(node([], ['198.18.1.0/24', 'fd00:10:1::/64'])), [
    '198.18.1.0/24',
    'fd00:10:1::/64',
  ]);
  assert.deepEqual(podCIDRsOf({ spec: { podCIDR: '198.18.1.0/24' } }), []);
});

test('a change of node IPs is fatal; a zone label change is not', () => {
  const initial = nodeState(
    node([['InternalIP', '198.19.0.2']], undefined, { 'topology.kubernetes.io/zone': 'a' }),
  );
  assert.equal(
    fatalNodeChange(
      initial,
      node([['InternalIP', '198.19.0.2']], undefined, { 'topology.kubernetes.io/zone': 'b' }),
      false,
    ),
    undefined,
  );
  assert.match(
    fatalNodeChange(initial, node([['InternalIP', '198.19.0.3']]), false) ?? '',
    /NodeIPs changed.*198\.19\.0\.2.*198\.19\.0\.3/,
  );
  assert.match(fatalNodeChange(initial, node([]), false) ?? '', /NodeIPs changed/);
  assert.equal(
    fatalNodeChange(
      initial,
      node([
        ['InternalIP', '198.19.0.2'],
        ['Hostname', 'x'],
      ]),
      false,
    ),
    undefined,
    'other address types do not matter',
  );
});

test('pod CIDR changes are fatal only when watched (NodeCIDR mode)', () => {
  const initial = nodeState(node([['InternalIP', '198.19.0.2']], ['198.18.1.0/24']));
  const moved = node([['InternalIP', '198.19.0.2']], ['198.18.2.0/24']);
  assert.equal(fatalNodeChange(initial, moved, false), undefined);
  assert.match(fatalNodeChange(initial, moved, true) ?? '', /PodCIDRs changed/);
});

test('a node that had no IPs at startup (timed out) is fatal once it gets some, as upstream', () => {
  const initial = nodeState(undefined);
  assert.equal(fatalNodeChange(initial, node([]), false), undefined);
  assert.match(
    fatalNodeChange(initial, node([['InternalIP', '198.19.0.2']]), false) ?? '',
    /NodeIPs changed/,
  );
});
