// NodePorts on the real kernel: upstream group D (TestNodePorts, nftables cases) with the node's
// two addresses — nodePortAddresses "primary" (the default: only the primary node IP accepts
// NodePorts), CIDRs covering both node IPs, and 0.0.0.0/0 + ::/0 (every local address). Traffic to a
// node address that does not accept NodePorts reaches the node itself: its echo server ("host")
// answers. Localhost NodePorts do not exist in nftables mode; in iptables mode (upstream D6/D7)
// 127.0.0.1 accepts NodePorts when nodePortAddresses covers it (the iptables default: every local
// address) and --iptables-localhost-nodeports is on (default), and ::1 never does.
import { after, test } from 'node:test';
import {
  clusterObjects,
  EXT,
  ep,
  NODE,
  NODE_ALT,
  POD,
  REMOTE_NODE_NAME,
  slices,
  svc,
} from '../harness/dual-stack.ts';
import { type Row, rows, runFlowCases } from '../harness/flow-cases.ts';
import { requireKernel } from '../harness/kernel.ts';
import { byMode, PROXY_MODE } from '../harness/mode.ts';
import { type ProxyFlags, sharedEnv } from '../harness/proxy-env.ts';

const CIP = '198.19.16.41';
const BOTH = '198.18.180.1:80, 198.18.182.1:80';
const P80 = { name: 'p80', port: 80, nodePort: 3001 };

const env = sharedEnv({
  pods: [
    { name: 'ep-remote', ip: '198.18.180.1', node: 'remote', ports: [{ protocol: 'TCP', port: 80 }] },
    { name: 'ep-local', ip: '198.18.182.1', ports: [{ protocol: 'TCP', port: 80 }] },
    { name: 'pod', ip: POD, ports: [] },
  ],
  // The node's own listener on the NodePort: what answers when no NodePort rule matches.
  hostPorts: [{ protocol: 'TCP', port: 3001 }],
  manifests: {
    'cluster.yaml': clusterObjects(),
    'svc1.yaml': [
      svc({ name: 'svc1', type: 'NodePort', clusterIP: CIP, ports: [P80] }),
      ...slices('svc1', [P80], [ep('198.18.180.1', REMOTE_NODE_NAME), ep('198.18.182.1')]),
    ],
  },
});
after(() => env.close());

const COMMON: Row[] = [
  ['D1 pod to cluster IP', POD, CIP, 80, BOTH],
  ['D2 external to nodePort', EXT, NODE, 3001, BOTH, true],
  ['D3 node to nodePort', NODE, NODE, 3001, BOTH, true],
];
const LOCALHOST_IGNORED: Row = ['D7 localhost to nodePort is ignored', '127.0.0.1', '127.0.0.1', 3001, ''];
const LOCALHOST_ACCEPTED: Row = [
  'D6 localhost to nodePort gets masqueraded',
  '127.0.0.1',
  '127.0.0.1',
  3001,
  BOTH,
  true,
];
const ALT_ACCEPTS: Row = ['D4 external to nodePort on secondary IP', EXT, NODE_ALT, 3001, BOTH, true];
const ALT_IGNORES: Row = ['D5 secondary nodeIP ignores NodePorts', EXT, NODE_ALT, 3001, ''];

interface Variant {
  name: string;
  flags: ProxyFlags;
  rows: Row[];
  /** Whether 127.0.0.1 accepts NodePorts (iptables mode only; ::1 never does). */
  localhost?: boolean;
}

const VARIANTS: Variant[] = [
  byMode<Variant>({
    nftables: { name: 'D: nodePortAddresses primary (default)', flags: {}, rows: [...COMMON, ALT_IGNORES] },
    // IPVS mode: every local address too, but no localhost NodePorts (upstream: iptables mode only).
    ipvs: {
      name: 'D: nodePortAddresses unset (default: every local address but loopback)',
      flags: {},
      rows: [...COMMON, ALT_ACCEPTS],
    },
    iptables: {
      name: 'D: nodePortAddresses unset (default: every local address, localhost NodePorts on)',
      flags: {},
      rows: [...COMMON, ALT_ACCEPTS],
      localhost: true,
    },
  }),
  ...(PROXY_MODE === 'iptables'
    ? [
        {
          name: 'D: nodePortAddresses primary',
          flags: { extraArgs: ['--nodeport-addresses=primary'] },
          rows: [...COMMON, ALT_IGNORES],
        },
        {
          name: 'D: nodePortAddresses unset, --iptables-localhost-nodeports=false',
          flags: { extraArgs: ['--iptables-localhost-nodeports=false'] },
          rows: [...COMMON, ALT_ACCEPTS],
        },
      ]
    : []),
  {
    name: 'D: nodePortAddresses CIDRs holding both node IPs',
    flags: { extraArgs: ['--nodeport-addresses=198.19.0.0/24,198.19.1.0/24,fd00:19::/112,fd00:19::1:0/112'] },
    rows: [...COMMON, ALT_ACCEPTS],
  },
  {
    name: 'D: nodePortAddresses CIDR holding only the primary node IP',
    flags: { extraArgs: ['--nodeport-addresses=198.19.0.0/24,fd00:19::/112'] },
    rows: [...COMMON, ALT_IGNORES],
  },
  {
    name: 'D: nodePortAddresses 0.0.0.0/0 and ::/0 (every local address but loopback)',
    flags: { extraArgs: ['--nodeport-addresses=0.0.0.0/0,::/0'] },
    rows: [...COMMON, ALT_ACCEPTS],
    // A zero CIDR means every local address, as an empty list does (upstream MatchAll).
    localhost: PROXY_MODE === 'iptables',
  },
];

for (const v of VARIANTS) {
  test(v.name, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    await e.useFlags(v.flags);
    await runFlowCases(t, e, rows([...v.rows, ...(v.localhost ? [] : [LOCALHOST_IGNORED])]));
    if (v.localhost) {
      await runFlowCases(t, e, rows([LOCALHOST_ACCEPTED]), { families: ['IPv4'] });
      await runFlowCases(t, e, rows([LOCALHOST_IGNORED]), { families: ['IPv6'] });
    }
  });
}
