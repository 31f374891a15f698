// The tracer over a kernel listing: `nft -a list table ip kube-proxy` of the examples/ ruleset as
// the kernel printed it (captured from a throwaway namespace), read back and traced.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { parseNftListing } from '../../../src/explain/nft-listing.ts';
import { NftTracer } from '../../../src/explain/nft-tracer.ts';

const listing = readFileSync(
  new URL('../../golden/explain/nft-list-examples-ipv4.txt', import.meta.url),
  'utf8',
);
const NODE_IP = '198.19.0.2';

describe('nft listing → tracer', () => {
  const table = parseNftListing(listing);
  const tracer = new NftTracer(table, 'ip', [NODE_IP]);

  test('reads chains with rule handles and comments, and multi-line element lists', () => {
    const check = table.chains.get('cluster-ips-check')!.rules;
    assert.deepEqual(check[0], {
      rule: 'ip daddr @cluster-ips reject',
      comment: 'Reject traffic to invalid ports of ClusterIPs',
      handle: 52,
    });
    assert.deepEqual(
      [...table.sets.get('cluster-ips')!.elements.keys()],
      ['198.19.16.10', '198.19.16.30', '198.19.16.53'],
    );
    assert.equal(table.sets.get('hairpin-endpoints')!.elements.size, 5);
    assert.deepEqual(table.sets.get('no-endpoint-services')!.elements.get('198.19.16.30 . tcp . 80'), {
      value: 'goto reject-chain',
      comment: 'demo/idle:http',
    });
    assert.equal(table.sets.get('service-nodeports')!.elements.size, 0);
  });

  test('a pod to the web ClusterIP: DNAT to each of its three endpoints, not masqueraded, with the deciding rules', () => {
    const r = tracer.explain({ sourceIP: '198.18.1.50', destIP: '198.19.16.10', destPort: 80 });
    assert.equal(r.output, '198.18.1.10:8080, 198.18.1.11:8080, 198.18.1.12:8080');
    assert.equal(r.masq, false);
    const dispatch = r.steps.find((s) => s.chain === 'services')!;
    assert.equal(dispatch.handle, 57);
    assert.match(
      dispatch.action,
      /goto service-AXK6CI2C-demo\/web\/tcp\/http \(element 198\.19\.16\.10 \. tcp \. 80 of @service-ips\)/,
    );
    assert.deepEqual(
      r.steps.filter((s) => s.action.startsWith('dnat')).map((s) => [s.handle, s.action]),
      [
        [63, 'dnat to 198.18.1.10:8080 (probability 1/3)'],
        [64, 'dnat to 198.18.1.11:8080 (probability 1/2)'],
        [65, 'dnat to 198.18.1.12:8080'],
      ],
    );
  });

  test('from outside the pod CIDR it is masqueraded (handle 62)', () => {
    const r = tracer.explain({ sourceIP: '198.19.0.1', destIP: '198.19.16.10', destPort: 80 });
    assert.equal(r.masq, true);
    assert.ok(r.steps.some((s) => s.handle === 62 && s.action === 'jump mark-for-masquerade'));
  });

  test('UDP to the dns ClusterIP; TCP to it is an invalid port', () => {
    assert.equal(
      tracer.trace({ sourceIP: '198.18.1.50', destIP: '198.19.16.53', destPort: 53, protocol: 'udp' }).output,
      '198.18.1.20:8053, 198.18.1.21:8053',
    );
    assert.equal(
      tracer.trace({ sourceIP: '198.18.1.50', destIP: '198.19.16.53', destPort: 53 }).output,
      'REJECT',
    );
  });

  test('no endpoints: REJECT via @no-endpoint-services; unallocated ClusterIP: DROP; elsewhere: not handled', () => {
    const idle = tracer.explain({ sourceIP: '198.19.0.1', destIP: '198.19.16.30', destPort: 80 });
    assert.equal(idle.output, 'REJECT');
    assert.deepEqual(idle.steps.at(-1), {
      chain: 'reject-chain',
      rule: 'reject',
      handle: 51,
      action: 'reject',
    });
    const unallocated = tracer.explain({ sourceIP: '198.19.0.1', destIP: '198.19.16.99', destPort: 80 });
    assert.equal(unallocated.output, 'DROP');
    assert.equal(unallocated.steps.at(-1)!.comment, 'Drop traffic to unallocated ClusterIPs');
    assert.equal(tracer.trace({ sourceIP: '198.19.0.1', destIP: '198.51.100.1', destPort: 80 }).output, '');
  });

  test('a live affinity entry decides the endpoint; without one the pick is random and the note says so', () => {
    const withAffinity = parseNftListing(`table ip kube-proxy { # handle 1
\tmap affinity-X { # handle 9
\t\ttype ipv4_addr : ipv4_addr
\t\tflags dynamic,timeout
\t\ttimeout 3h
\t\telements = { 198.18.0.9 timeout 3h expires 2h59m50s : 198.18.1.11 }
\t}
\tchain filter-prerouting-pre-dnat { # handle 2
\t}
\tchain nat-prerouting { # handle 3
\t\tjump svc # handle 10
\t}
\tchain nat-postrouting { # handle 4
\t}
\tchain filter-forward { # handle 5
\t}
\tchain filter-input { # handle 6
\t}
\tchain svc { # handle 7
\t\tip saddr @affinity-X update @affinity-X { ip saddr : 198.18.1.10 } meta l4proto tcp dnat to ip saddr map @affinity-X:8080 # handle 11
\t\tnumgen random mod 2 0 update @affinity-X { ip saddr : 198.18.1.10 } meta l4proto tcp dnat to 198.18.1.10:8080 # handle 12
\t\tupdate @affinity-X { ip saddr : 198.18.1.11 } meta l4proto tcp dnat to 198.18.1.11:8080 # handle 13
\t}
}
`);
    const t = new NftTracer(withAffinity, 'ip', [NODE_IP]);
    const sticky = t.explain({ sourceIP: '198.18.0.9', destIP: '198.19.16.10', destPort: 80 });
    assert.equal(sticky.output, '198.18.1.11:8080');
    assert.match(sticky.steps.at(-1)!.action, /session affinity/);
    const fresh = t.explain({ sourceIP: '198.18.0.10', destIP: '198.19.16.10', destPort: 80 });
    assert.equal(fresh.output, '198.18.1.10:8080, 198.18.1.11:8080');
    assert.ok(fresh.notes.some((n) => n.includes('session affinity')));
  });

  test('text that is not a table listing is a typed error', () => {
    assert.throws(() => parseNftListing('Error: No such file or directory'), { code: 'KP_ERR_NFT_INVALID' });
  });
});
