// Upstream's TestNodePorts for nftables mode (group D), IPv4 and IPv6, with nodePortAddresses
// "primary" (only the node IP accepts NodePorts) and with CIDRs covering a second node IP.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { newFakeProxier } from '../../../support/fake-proxier.ts';
import { ep, NODE_NAME, node, service, slice } from '../../../support/fixtures.ts';

interface Family {
  readonly name: 'IPv4' | 'IPv6';
  readonly pod: string;
  readonly podCIDR: string;
  readonly ext: string;
  readonly nodeIP: string;
  readonly altIP: string;
  readonly clusterIP: string;
  readonly eps: [string, string];
  readonly cidrs: string[];
}

const families: Family[] = [
  {
    name: 'IPv4',
    pod: '198.18.0.2',
    podCIDR: '198.18.0.0/16',
    ext: '198.19.100.2',
    nodeIP: '198.19.0.2',
    altIP: '198.19.1.2',
    clusterIP: '198.19.16.41',
    eps: ['198.18.180.1', '198.18.182.1'],
    cidrs: ['198.19.0.0/24', '198.19.1.0/24', 'fd00:19::/64'],
  },
  {
    name: 'IPv6',
    pod: 'fd00:10::2',
    podCIDR: 'fd00:10::/64',
    ext: 'fd00:100::1',
    nodeIP: 'fd00:19::1',
    altIP: 'fd00:19:1::2',
    clusterIP: 'fd00:10:96::41',
    eps: ['fd00:10:180::1', 'fd00:10:180::2:1'],
    cidrs: ['198.19.0.0/24', 'fd00:19::/64', 'fd00:19:1::2/128'],
  },
];

for (const fam of families) {
  describe(`NodePorts (${fam.name})`, () => {
    for (const allowAlt of [false, true]) {
      test(
        allowAlt ? 'nodePortAddresses CIDRs include the second node IP' : 'nodePortAddresses primary',
        async () => {
          const fp = newFakeProxier({
            family: fam.name,
            podCIDR: fam.podCIDR,
            nodePortAddresses: allowAlt ? fam.cidrs : ['primary'],
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
          p.onServicesSynced();
          p.onEndpointSlicesSynced();
          await p.syncProxyRules();
          const t = fp.tracer([fam.nodeIP, fam.altIP]);
          const sep = fam.name === 'IPv4' ? (ip: string) => `${ip}:80` : (ip: string) => `[${ip}]:80`;
          const both = `${sep(fam.eps[0])}, ${sep(fam.eps[1])}`;
          const flows: [string, string, string, number, string, boolean][] = [
            ['D1 pod to cluster IP', fam.pod, fam.clusterIP, 80, both, false],
            ['D2 external to nodePort', fam.ext, fam.nodeIP, 3001, both, true],
            ['D3 node to nodePort', fam.nodeIP, fam.nodeIP, 3001, both, true],
            allowAlt
              ? ['D4 external to nodePort on secondary IP', fam.ext, fam.altIP, 3001, both, true]
              : ['D5 secondary node IP ignores NodePorts', fam.ext, fam.altIP, 3001, '', false],
            [
              'localhost to nodePort is ignored',
              fam.name === 'IPv4' ? '127.0.0.1' : '::1',
              fam.name === 'IPv4' ? '127.0.0.1' : '::1',
              3001,
              '',
              false,
            ],
          ];
          for (const [name, sourceIP, destIP, destPort, output, masq] of flows) {
            assert.deepEqual(t.trace({ sourceIP, destIP, destPort }), { output, masq }, name);
          }
        },
      );
    }
  });
}
