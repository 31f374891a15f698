// NodePorts on the real kernel: upstream group D (TestNodePorts, nftables cases) with the node's
// two addresses — nodePortAddresses "primary" (the default: only the primary node IP accepts
// NodePorts), CIDRs covering both node IPs, and 0.0.0.0/0 + ::/0 (every local address). Traffic to a
// node address that does not accept NodePorts reaches the node itself: its echo server ("host")
// answers. Localhost NodePorts do not exist in nftables mode.
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
  [
    'D7 localhost to nodePort is ignored (no localhost NodePorts in nftables mode)',
    '127.0.0.1',
    '127.0.0.1',
    3001,
    '',
  ],
];
const ALT_ACCEPTS: Row = ['D4 external to nodePort on secondary IP', EXT, NODE_ALT, 3001, BOTH, true];
const ALT_IGNORES: Row = ['D5 secondary nodeIP ignores NodePorts', EXT, NODE_ALT, 3001, ''];

const VARIANTS: { name: string; flags: ProxyFlags; rows: Row[] }[] = [
  { name: 'D: nodePortAddresses primary (default)', flags: {}, rows: [...COMMON, ALT_IGNORES] },
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
  },
];

for (const v of VARIANTS) {
  test(v.name, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    await e.useFlags(v.flags);
    await runFlowCases(t, e, rows(v.rows));
  });
}
