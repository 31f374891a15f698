// Upstream's TestNodePorts (group D) for each mode in FAKE_BACKENDS, IPv4 and IPv6. The cases are
// upstream's per mode: nftables varies nodePortAddresses ("primary", the default, or CIDRs covering
// a second node IP); iptables varies --iptables-localhost-nodeports and nodePortAddresses (default
// nil: every local address, `-m addrtype --dst-type LOCAL`), and only it routes 127.0.0.1 (D6).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FAKE_BACKENDS, type FakeMode } from '../../support/fake-backends.ts';
import { markSyncedAndSync } from '../../support/fake-proxier.ts';
import { ep, NODE_NAME, node, service, slice } from '../../support/fixtures.ts';
import { assertFlows, type Row } from '../../support/flow-table.ts';

interface Family {
  readonly name: 'IPv4' | 'IPv6';
  readonly pod: string;
  readonly podCIDR: string;
  readonly ext: string;
  readonly nodeIP: string;
  readonly altIP: string;
  readonly localhost: string;
  readonly clusterIP: string;
  readonly eps: [string, string];
}

const V4: Family = {
  name: 'IPv4',
  pod: '198.18.0.2',
  podCIDR: '198.18.0.0/16',
  ext: '198.19.100.2',
  nodeIP: '198.19.0.2',
  altIP: '198.19.1.2',
  localhost: '127.0.0.1',
  clusterIP: '198.19.16.41',
  eps: ['198.18.180.1', '198.18.182.1'],
};
const V6: Family = {
  name: 'IPv6',
  pod: 'fd00:10::2',
  podCIDR: 'fd00:10::/64',
  ext: 'fd00:100::1',
  nodeIP: 'fd00:19::1',
  altIP: 'fd00:19:1::2',
  localhost: '::1',
  clusterIP: 'fd00:10:96::41',
  eps: ['fd00:10:180::1', 'fd00:10:180::2:1'],
};

/** Upstream's two node /24s and its IPv6 node /64, re-addressed. */
const BOTH_NODE_NETS = ['198.19.0.0/24', '198.19.1.0/24', 'fd00:19::/64'];
const KUBE_FIREWALL_RULE =
  '-m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP';

interface Case {
  readonly name: string;
  readonly fam: Family;
  readonly localhostNodePorts?: boolean;
  /** undefined: the mode's default. */
  readonly nodePortAddresses?: string[];
  /** NodePort traffic to the second node IP is accepted (D4) or ignored (D5). */
  readonly allowAlt: boolean;
  /** 127.0.0.1 → 127.0.0.1:3001 reaches the endpoints, masqueraded (D6) rather than ignored (D7). */
  readonly localhost?: boolean;
  /** iptables: KUBE-FIREWALL holds the anti-martian rule. */
  readonly firewall?: boolean;
}

const CASES: Record<FakeMode, Case[]> = {
  nftables: [
    { name: 'ipv4, nodePortAddresses primary', fam: V4, allowAlt: false },
    { name: 'ipv4, nodePortAddresses CIDRs', fam: V4, nodePortAddresses: BOTH_NODE_NETS, allowAlt: true },
    { name: 'ipv6, nodePortAddresses primary', fam: V6, allowAlt: false },
    {
      name: 'ipv6, nodePortAddresses CIDRs',
      fam: V6,
      nodePortAddresses: ['198.19.0.0/24', 'fd00:19::/64', 'fd00:19:1::2/128'],
      allowAlt: true,
    },
  ],
  iptables: [
    {
      name: 'ipv4, localhost-nodeports enabled',
      fam: V4,
      localhostNodePorts: true,
      allowAlt: true,
      localhost: true,
      firewall: true,
    },
    { name: 'ipv4, localhost-nodeports disabled', fam: V4, localhostNodePorts: false, allowAlt: true },
    {
      name: 'ipv4, localhost-nodeports disabled, localhost in nodeport-addresses',
      fam: V4,
      localhostNodePorts: false,
      nodePortAddresses: ['198.19.0.0/24', '127.0.0.1/32'],
      allowAlt: false,
    },
    {
      name: 'ipv4, localhost-nodeports disabled, multiple nodeport-addresses',
      fam: V4,
      localhostNodePorts: false,
      nodePortAddresses: BOTH_NODE_NETS,
      allowAlt: true,
    },
    { name: 'ipv6, localhost-nodeports enabled', fam: V6, localhostNodePorts: true, allowAlt: true },
    { name: 'ipv6, localhost-nodeports disabled', fam: V6, localhostNodePorts: false, allowAlt: true },
    {
      name: 'ipv6, localhost-nodeports disabled, multiple nodeport-addresses',
      fam: V6,
      localhostNodePorts: false,
      nodePortAddresses: BOTH_NODE_NETS,
      allowAlt: false,
    },
  ],
};

for (const fb of FAKE_BACKENDS) {
  describe(`NodePorts [${fb.mode}]`, () => {
    for (const c of CASES[fb.mode]) {
      test(c.name, async () => {
        const { fam } = c;
        const fp = fb.make({
          family: fam.name,
          podCIDR: fam.podCIDR,
          ...(c.nodePortAddresses && { nodePortAddresses: c.nodePortAddresses }),
          ...(c.localhostNodePorts !== undefined && { localhostNodePorts: c.localhostNodePorts }),
          localAddresses: () => [fam.nodeIP, fam.altIP, '127.0.0.1', '::1'],
        });
        const p = fp.proxier;
        p.onNodeAdd(node(NODE_NAME, ['198.19.0.2', fam.nodeIP]));
        p.onServiceAdd(
          service('ns1', 'svc1', {
            type: 'NodePort',
            clusterIP: fam.clusterIP,
            clusterIPs: [fam.clusterIP],
            ipFamilies: [fam.name],
            ports: [{ name: 'p80', port: 80, nodePort: 3001 }],
          }),
        );
        p.onEndpointSliceAdd(
          slice(
            'ns1',
            'svc1',
            's1',
            [{ name: 'p80', port: 80 }],
            [ep(fam.eps[0]), ep(fam.eps[1], NODE_NAME)],
            fam.name,
          ),
        );
        await markSyncedAndSync(p);
        const t = fp.tracer([fam.nodeIP, fam.altIP]);
        const sep = fam.name === 'IPv4' ? (ip: string) => `${ip}:80` : (ip: string) => `[${ip}]:80`;
        const both = `${sep(fam.eps[0])}, ${sep(fam.eps[1])}`;
        const flows: Row[] = [
          ['D1 pod to cluster IP', fam.pod, fam.clusterIP, 80, both, false],
          ['D2 external to nodePort', fam.ext, fam.nodeIP, 3001, both, true],
          ['D3 node to nodePort', fam.nodeIP, fam.nodeIP, 3001, both, true],
          c.allowAlt
            ? ['D4 external to nodePort on secondary IP', fam.ext, fam.altIP, 3001, both, true]
            : ['D5 secondary node IP ignores NodePorts', fam.ext, fam.altIP, 3001, '', false],
          c.localhost
            ? ['D6 localhost to nodePort gets masqueraded', fam.localhost, fam.localhost, 3001, both, true]
            : ['D7 localhost to nodePort is ignored', fam.localhost, fam.localhost, 3001, '', false],
        ];
        assertFlows(t, flows);
        if (fp.iptables) {
          // As upstream, checked by hand: the tracer does not model conntrack state.
          assert.deepEqual(
            fp.iptables.rules('filter', 'KUBE-FIREWALL') ?? [],
            c.firewall ? [KUBE_FIREWALL_RULE] : [],
            'KUBE-FIREWALL',
          );
        }
      });
    }
  });
}
