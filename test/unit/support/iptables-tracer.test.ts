// The iptables tracer against hand-written iptables-save text (upstream's TestTracePacket, re-addressed
// into our ranges): each match and target it understands, and what it deliberately ignores.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeIptables } from '../../../src/kernel/iptables/fake.ts';
import { IptablesTracer, type Packet, tracePacket } from '../../support/iptables-tracer.ts';

const NODE_IPS = ['198.19.0.2', 'fd00:19::2'];

const RULES = `
*filter
:INPUT ACCEPT [0:0]
:FORWARD ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A INPUT -m comment --comment "kubernetes health check service ports" -j KUBE-NODEPORTS
-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES
-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD
-A FORWARD -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-NODEPORTS -m comment --comment "ns5/svc5:p80 health check node port" -m tcp -p tcp --dport 30000 -j ACCEPT
-A KUBE-SERVICES -m mark --mark 0x1/0x1 -j DROP
-A KUBE-SERVICES -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 198.19.16.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns5/svc5:p80 has no local endpoints" -m tcp -p tcp -d 198.19.99.25 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns5/svc5:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3005 -j DROP
-A KUBE-PROXY-FIREWALL -m comment --comment "ns7/svc7:p80 traffic not accepted by KUBE-FW-7" -m tcp -p tcp -d 198.19.200.7 --dport 80 -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
:INPUT ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-NODEPORTS - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-1 - [0:0]
:KUBE-SEP-1A - [0:0]
:KUBE-SVC-2 - [0:0]
:KUBE-EXT-2 - [0:0]
:KUBE-SEP-2A - [0:0]
:KUBE-SEP-2B - [0:0]
:KUBE-SVC-7 - [0:0]
:KUBE-EXT-7 - [0:0]
:KUBE-FW-7 - [0:0]
:KUBE-SEP-7A - [0:0]
:KUBE-SVC-8 - [0:0]
:KUBE-SEP-8A - [0:0]
:KUBE-SVC-9 - [0:0]
:KUBE-SEP-9A - [0:0]
:KUBE-SEP-9B - [0:0]
:KUBE-SVC-10 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 198.19.16.41 --dport 80 -j KUBE-SVC-1
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 198.19.16.42 --dport 80 -j KUBE-SVC-2
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 external IP" -m tcp -p tcp -d 198.19.99.22 --dport 80 -j KUBE-EXT-2
-A KUBE-SERVICES -m comment --comment "ns7/svc7:p80 loadbalancer IP" -m tcp -p tcp -d 198.19.200.7 --dport 80 -j KUBE-FW-7
-A KUBE-SERVICES -m comment --comment "ns8/svc8:dns cluster IP" -m udp -p udp -d 198.19.16.48 --dport 53 -j KUBE-SVC-8
-A KUBE-SERVICES -m comment --comment "ns9/svc9:p80 cluster IP" -m tcp -p tcp -d 198.19.16.49 --dport 80 -j KUBE-SVC-9
-A KUBE-SERVICES -m comment --comment "ns10/svc10:p80 cluster IP" -m tcp -p tcp -d 198.19.16.50 --dport 80 -j KUBE-SVC-10
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-NODEPORTS -m comment --comment "ns2/svc2:p80" -m tcp -p tcp --dport 3002 -j KUBE-EXT-2
-A KUBE-SVC-1 -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 198.19.16.41 --dport 80 ! -s 198.18.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SVC-1 -m comment --comment "ns1/svc1:p80 -> 198.18.1.1:80" -j KUBE-SEP-1A
-A KUBE-SEP-1A -m comment --comment ns1/svc1:p80 -s 198.18.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-1A -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 198.18.1.1:80
-A KUBE-EXT-2 -m comment --comment "masquerade traffic for ns2/svc2:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-2 -j KUBE-SVC-2
-A KUBE-SVC-2 -m comment --comment "ns2/svc2:p80 -> 198.18.2.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-2B
-A KUBE-SVC-2 -m comment --comment "ns2/svc2:p80 -> 198.18.1.2:80" -j KUBE-SEP-2A
-A KUBE-SEP-2A -m tcp -p tcp -j DNAT --to-destination 198.18.1.2:80
-A KUBE-SEP-2B -m tcp -p tcp -j DNAT --to-destination 198.18.2.2:80
-A KUBE-FW-7 -m comment --comment "ns7/svc7:p80 loadbalancer IP" -s 198.19.100.0/25 -j KUBE-EXT-7
-A KUBE-EXT-7 -j KUBE-MARK-MASQ
-A KUBE-EXT-7 -j KUBE-SVC-7
-A KUBE-SVC-7 -j KUBE-SEP-7A
-A KUBE-SEP-7A -m tcp -p tcp -j DNAT --to-destination 198.18.1.7:80
-A KUBE-SVC-8 -m comment --comment "ns8/svc8:dns -> 198.18.1.8:53" -j KUBE-SEP-8A
-A KUBE-SEP-8A -m udp -p udp -j DNAT --to-destination 198.18.1.8:53
-A KUBE-SVC-9 -m comment --comment "ns9/svc9:p80 -> 198.18.1.9:80" -m recent --name KUBE-SEP-9A --rcheck --seconds 10800 --reap -j KUBE-SEP-9A
-A KUBE-SVC-9 -m comment --comment "ns9/svc9:p80 -> 198.18.2.9:80" -m recent --name KUBE-SEP-9B --rcheck --seconds 10800 --reap -j KUBE-SEP-9B
-A KUBE-SVC-9 -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-9A
-A KUBE-SVC-9 -j KUBE-SEP-9B
-A KUBE-SEP-9A -m recent --name KUBE-SEP-9A --set -m tcp -p tcp -j DNAT --to-destination 198.18.1.9:80
-A KUBE-SEP-9B -m recent --name KUBE-SEP-9B --set -m tcp -p tcp -j DNAT --to-destination 198.18.2.9:80
-A KUBE-SVC-10 ! -i kpod+ -j KUBE-MARK-MASQ
-A KUBE-SVC-10 -j KUBE-SEP-1A
COMMIT
`;

type Row = [name: string, packet: Packet, output: string, masq: boolean];

const ROWS: Row[] = [
  [
    'cluster IP from a pod',
    { sourceIP: '198.18.2.5', destIP: '198.19.16.41', destPort: 80 },
    '198.18.1.1:80',
    false,
  ],
  [
    'cluster IP from outside the cluster CIDR (! -s)',
    { sourceIP: '198.19.100.2', destIP: '198.19.16.41', destPort: 80 },
    '198.18.1.1:80',
    true,
  ],
  [
    'cluster IP hairpin (-s endpoint)',
    { sourceIP: '198.18.1.1', destIP: '198.19.16.41', destPort: 80 },
    '198.18.1.1:80',
    true,
  ],
  ['wrong port (--dport)', { sourceIP: '198.18.2.5', destIP: '198.19.16.41', destPort: 81 }, '', false],
  [
    'wrong protocol (-p)',
    { sourceIP: '198.18.2.5', protocol: 'udp', destIP: '198.19.16.41', destPort: 80 },
    '',
    false,
  ],
  [
    'every -m statistic branch, sorted',
    { sourceIP: '198.18.2.5', destIP: '198.19.16.42', destPort: 80 },
    '198.18.1.2:80, 198.18.2.2:80',
    false,
  ],
  [
    'external IP masquerades',
    { sourceIP: '198.19.100.2', destIP: '198.19.99.22', destPort: 80 },
    '198.18.1.2:80, 198.18.2.2:80',
    true,
  ],
  [
    'node port on a node IP (--dst-type LOCAL)',
    { sourceIP: '198.19.100.2', destIP: '198.19.0.2', destPort: 3002 },
    '198.18.1.2:80, 198.18.2.2:80',
    true,
  ],
  [
    'node port on localhost',
    { sourceIP: '127.0.0.1', destIP: '127.0.0.1', destPort: 3002 },
    '198.18.1.2:80, 198.18.2.2:80',
    true,
  ],
  [
    'node port on an address that is not the node',
    { sourceIP: '198.19.100.2', destIP: '198.19.0.99', destPort: 3002 },
    '',
    false,
  ],
  [
    'no endpoints: REJECT (filter)',
    { sourceIP: '198.18.2.5', destIP: '198.19.16.46', destPort: 80 },
    'REJECT',
    false,
  ],
  [
    'eTP Local without local endpoints: external IP DROP',
    { sourceIP: '198.19.100.2', destIP: '198.19.99.25', destPort: 80 },
    'DROP',
    false,
  ],
  [
    'eTP Local without local endpoints: node port DROP',
    { sourceIP: '198.19.100.2', destIP: '198.19.0.2', destPort: 3005 },
    'DROP',
    false,
  ],
  [
    'health check node port: ACCEPT, no output',
    { sourceIP: '198.19.100.2', destIP: '198.19.0.2', destPort: 30000 },
    '',
    false,
  ],
  [
    'LB source range allows',
    { sourceIP: '198.19.100.2', destIP: '198.19.200.7', destPort: 80 },
    '198.18.1.7:80',
    true,
  ],
  [
    'LB source range blocks: KUBE-PROXY-FIREWALL DROP',
    { sourceIP: '198.19.100.130', destIP: '198.19.200.7', destPort: 80 },
    'DROP',
    false,
  ],
  [
    'UDP service',
    { sourceIP: '198.18.2.5', protocol: 'udp', destIP: '198.19.16.48', destPort: 53 },
    '198.18.1.8:53',
    false,
  ],
  ['TCP to the UDP service', { sourceIP: '198.18.2.5', destIP: '198.19.16.48', destPort: 53 }, '', false],
  [
    'affinity (-m recent --rcheck) never matches; both endpoints show',
    { sourceIP: '198.18.2.5', destIP: '198.19.16.49', destPort: 80 },
    '198.18.1.9:80, 198.18.2.9:80',
    false,
  ],
  [
    '! -i prefix+: from a pod interface',
    { sourceIP: '198.18.2.5', destIP: '198.19.16.50', destPort: 80, iifname: 'kpod7' },
    '198.18.1.1:80',
    false,
  ],
  [
    '! -i prefix+: from elsewhere',
    { sourceIP: '198.18.2.5', destIP: '198.19.16.50', destPort: 80, iifname: 'eth0' },
    '198.18.1.1:80',
    true,
  ],
  [
    '! -i prefix+: no input interface (local)',
    { sourceIP: '198.18.2.5', destIP: '198.19.16.50', destPort: 80 },
    '198.18.1.1:80',
    true,
  ],
];

describe('IptablesTracer over iptables-save text', () => {
  const tracer = new IptablesTracer(RULES, NODE_IPS);
  for (const [name, packet, output, masq] of ROWS) {
    test(name, () => {
      const { result, matches } = tracer.traceWithMatches(packet);
      assert.deepEqual(result, { output, masq }, `matched:\n${matches.join('\n')}`);
    });
  }

  test('the same over a FakeIptables the rules were restored into', async () => {
    const f = new FakeIptables();
    await f.restore(RULES);
    for (const [, packet, output, masq] of ROWS)
      assert.deepEqual(tracePacket(f, NODE_IPS, packet), { output, masq });
  });
});

describe('IptablesTracer targets', () => {
  const snippet = (...rules: string[]) =>
    [
      '*filter',
      'COMMIT',
      '*nat',
      ':KUBE-SERVICES - [0:0]',
      ':KUBE-MARK-MASQ - [0:0]',
      ':A - [0:0]',
      ':B - [0:0]',
      '-A PREROUTING -j KUBE-SERVICES',
      ...rules,
      'COMMIT',
      '',
    ].join('\n');
  const pkt: Packet = { sourceIP: 'fd00:10::5', destIP: 'fd00:10:96::1', destPort: 80 };

  test('RETURN leaves the chain; the caller goes on', () => {
    const rules = snippet(
      '-A KUBE-SERVICES -j A',
      '-A KUBE-SERVICES -j DNAT --to-destination [fd00:10::2:2]:80',
      '-A A -s fd00:10::/64 -j RETURN',
      '-A A -j DNAT --to-destination [fd00:10::1:1]:80',
    );
    assert.deepEqual(tracePacket(rules, NODE_IPS, pkt), { output: '[fd00:10::2:2]:80', masq: false });
    assert.deepEqual(tracePacket(rules, NODE_IPS, { ...pkt, sourceIP: 'fd00:19::100:2' }), {
      output: '[fd00:10::1:1]:80',
      masq: false,
    });
  });

  test('-g: falling off the end of the target returns past the calling chain', () => {
    const rules = snippet(
      '-A KUBE-SERVICES -j A',
      '-A KUBE-SERVICES -j KUBE-MARK-MASQ',
      '-A A -g B',
      '-A A -j DNAT --to-destination [fd00:10::1:1]:80',
      '-A B -d fd00:10:96::2 -j DNAT --to-destination [fd00:10::2:2]:80',
    );
    assert.deepEqual(tracePacket(rules, NODE_IPS, pkt), { output: '', masq: true });
    assert.deepEqual(tracePacket(rules, NODE_IPS, { ...pkt, destIP: 'fd00:10:96::2' }), {
      output: '[fd00:10::2:2]:80',
      masq: false,
    });
  });

  test('-d CIDR with !, IPv6 --dst-type LOCAL, MASQUERADE counts as masq', () => {
    const rules = snippet(
      '-A KUBE-SERVICES ! -d fd00:10:96::/108 -j KUBE-MARK-MASQ',
      '-A KUBE-SERVICES -m addrtype ! --dst-type LOCAL -j A',
      '-A KUBE-SERVICES -j DNAT --to-destination [fd00:10::3:3]:80',
      '-A A -j DNAT --to-destination [fd00:10::1:1]:80',
    );
    assert.deepEqual(tracePacket(rules, NODE_IPS, pkt), { output: '[fd00:10::1:1]:80', masq: false });
    assert.deepEqual(tracePacket(rules, NODE_IPS, { ...pkt, destIP: 'fd00:19::2' }), {
      output: '[fd00:10::3:3]:80',
      masq: true,
    });
  });

  test('natEntry starts at a chain, for restore input without the PREROUTING hook', () => {
    const rules = snippet('-A A -j DNAT --to-destination [fd00:10::1:1]:80');
    assert.deepEqual(tracePacket(rules, NODE_IPS, pkt), { output: '', masq: false });
    assert.deepEqual(tracePacket(rules, NODE_IPS, pkt, { natEntry: 'A' }), {
      output: '[fd00:10::1:1]:80',
      masq: false,
    });
  });

  test('a jump to an unknown target is a tracer error, not a silent miss', () => {
    const f = FakeIptables.fromSave(snippet('-A KUBE-SERVICES -j A'));
    f.tables.get('nat')!.delete('A');
    assert.throws(() => tracePacket(f, NODE_IPS, pkt), /unknown target A/);
  });
});

describe("origin 'local': a packet the node sends itself (explain packet with a node --from and no --iif)", () => {
  test('meets only the filter chains OUTPUT jumps to: the KUBE-EXTERNAL-SERVICES drop is not on its way', () => {
    const pkt: Packet = { sourceIP: '198.19.0.2', destIP: '198.19.99.25', destPort: 80 };
    assert.equal(tracePacket(RULES, NODE_IPS, pkt).output, 'DROP');
    assert.equal(tracePacket(RULES, NODE_IPS, pkt, { origin: 'local' }).output, '');
  });

  test('KUBE-SERVICES (filter OUTPUT) still rejects; nat OUTPUT still DNATs', () => {
    const local = { origin: 'local' } as const;
    const reject: Packet = { sourceIP: '198.19.0.2', destIP: '198.19.16.46', destPort: 80 };
    assert.equal(tracePacket(RULES, NODE_IPS, reject, local).output, 'REJECT');
    const dnat: Packet = { sourceIP: '198.19.0.2', destIP: '198.19.16.41', destPort: 80 };
    assert.deepEqual(tracePacket(RULES, NODE_IPS, dnat, local), { output: '198.18.1.1:80', masq: true });
  });

  test('to an address of the node itself it is delivered through INPUT: the KUBE-EXTERNAL-SERVICES drop applies', () => {
    const pkt: Packet = { sourceIP: '198.19.0.2', destIP: '198.19.0.2', destPort: 3005 };
    assert.equal(tracePacket(RULES, NODE_IPS, pkt, { origin: 'local' }).output, 'DROP');
  });
});
