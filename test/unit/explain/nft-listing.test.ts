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

describe('nft listing → tracer: interface names as the kernel prints them (quoted)', () => {
  // detect-local BridgeInterface / InterfaceNamePrefix rules, as `nft list` shows them.
  const chain = (...rules: string[]) => ({ rules: rules.map((rule) => ({ rule })) });
  const table = {
    chains: new Map([
      ['filter-prerouting-pre-dnat', chain()],
      ['nat-prerouting', chain('jump services')],
      ['services', chain('ip daddr 198.19.16.41 tcp dport 80 goto svc')],
      ['svc', chain('iifname != "kbr0" ip daddr 198.19.16.41 jump mark-for-masquerade', 'goto ep')],
      ['ep', chain('meta l4proto tcp dnat to 198.18.180.1:80')],
      ['nat-postrouting', chain()],
      ['filter-forward', chain()],
      ['filter-input', chain()],
    ]),
    sets: new Map(),
  };
  const tracer = new NftTracer(table, 'ip', [NODE_IP]);

  test('a packet in on the named bridge matches iifname "kbr0" (not masqueraded); another interface does not', () => {
    const pkt = { sourceIP: '198.18.0.2', destIP: '198.19.16.41', destPort: 80 };
    assert.deepEqual(tracer.trace({ ...pkt, iifname: 'kbr0' }), { output: '198.18.180.1:80', masq: false });
    assert.deepEqual(tracer.trace({ ...pkt, iifname: 'vclient' }), { output: '198.18.180.1:80', masq: true });
  });

  test('a quoted prefix "kbr*" matches by prefix', () => {
    const prefixed = new NftTracer(
      {
        ...table,
        chains: new Map([
          ...table.chains,
          ['svc', chain('iifname != "kbr*" ip daddr 198.19.16.41 jump mark-for-masquerade', 'goto ep')],
        ]),
      },
      'ip',
      [NODE_IP],
    );
    const pkt = { sourceIP: '198.18.0.2', destIP: '198.19.16.41', destPort: 80 };
    assert.equal(prefixed.trace({ ...pkt, iifname: 'kbr0' }).masq, false);
    assert.equal(prefixed.trace({ ...pkt, iifname: 'eth0' }).masq, true);
  });
});

describe('nft listing → tracer: a packet from the node itself takes the output hooks', () => {
  const chain = (...rules: string[]) => ({ rules: rules.map((rule) => ({ rule })) });
  const table = {
    chains: new Map([
      ['filter-prerouting-pre-dnat', chain()],
      ['filter-output-pre-dnat', chain()],
      ['nat-prerouting', chain('jump services')],
      ['nat-output', chain('jump services')],
      ['services', chain('ip daddr 198.19.16.41 tcp dport 80 goto ep')],
      ['ep', chain('meta l4proto tcp dnat to 198.18.180.1:80')],
      ['nat-postrouting', chain()],
      ['filter-forward', chain('ip daddr 198.19.16.99 reject')],
      ['filter-output', chain('ip daddr 198.19.16.98 reject')],
      ['filter-input', chain('tcp dport 3009 reject')],
    ]),
    sets: new Map(),
  };
  const tracer = new NftTracer(table, 'ip', [NODE_IP]);
  const chains = (r: { steps: readonly { chain: string }[] }) => r.steps.map((s) => s.chain);

  test('no --iif and a node source: nat-output, filter-output; with --iif or another source: prerouting, forward', () => {
    const pkt = { sourceIP: NODE_IP, destIP: '198.19.16.41', destPort: 80 };
    assert.deepEqual(chains(tracer.explain(pkt)), ['nat-output', 'services', 'ep']);
    assert.deepEqual(chains(tracer.explain({ ...pkt, iifname: 'vclient' })), [
      'nat-prerouting',
      'services',
      'ep',
    ]);
    assert.equal(tracer.trace({ sourceIP: NODE_IP, destIP: '198.19.16.98', destPort: 80 }).output, 'REJECT');
    assert.equal(tracer.trace({ sourceIP: NODE_IP, destIP: '198.19.16.99', destPort: 80 }).output, '');
    assert.equal(
      tracer.trace({ sourceIP: '198.19.0.1', destIP: '198.19.16.99', destPort: 80 }).output,
      'REJECT',
    );
  });

  test('filter-input only for a destination of the node (or loopback)', () => {
    assert.equal(tracer.trace({ sourceIP: NODE_IP, destIP: NODE_IP, destPort: 3009 }).output, 'REJECT');
    assert.equal(
      tracer.trace({ sourceIP: '127.0.0.1', destIP: '127.0.0.1', destPort: 3009 }).output,
      'REJECT',
    );
    assert.equal(tracer.trace({ sourceIP: NODE_IP, destIP: '198.19.16.97', destPort: 3009 }).output, '');
  });
});
