// LoadBalancer services on the real kernel: upstream groups A (TestNoEndpointsReject) and C
// (TestLoadBalancer: loadBalancerSourceRanges, the node-IP allowance, NodePorts bypassing the
// ranges), IPv4 and IPv6, from a pod, an external client, a blocked client and the node itself.
import { after, test } from 'node:test';
import { IPV6_PLAN, v6Of } from '../../src/sandbox/addresses.ts';
import {
  BLK,
  clusterObjects,
  EXT,
  ep,
  NODE,
  POD,
  REMOTE_NODE_NAME,
  slices,
  svc,
} from '../harness/dual-stack.ts';
import { rows, runFlowCases } from '../harness/flow-cases.ts';
import { requireKernel } from '../harness/kernel.ts';
import { byMode } from '../harness/mode.ts';
import { sharedEnv } from '../harness/proxy-env.ts';

const CIP = '198.19.16.41';
const LB1 = '198.19.200.4';
const LB2 = '198.19.200.8';
const EXT_IP = '198.19.99.11';
const EP = '198.18.180.1:80';
const P80 = { name: 'p80', port: 80, nodePort: 3001 };

const env = sharedEnv({
  pods: [
    { name: 'ep-remote', ip: '198.18.180.1', node: 'remote', ports: [{ protocol: 'TCP', port: 80 }] },
    { name: 'pod', ip: POD, ports: [] },
  ],
  manifests: { 'cluster.yaml': clusterObjects() },
});
after(() => env.close());

test('A: a LoadBalancer service without endpoints rejects on every address', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({
    'svc1.yaml': [
      svc({
        name: 'svc1',
        type: 'LoadBalancer',
        clusterIP: CIP,
        ports: [P80],
        externalIPs: [EXT_IP],
        lbIPs: [LB1],
      }),
    ],
  });
  await runFlowCases(
    t,
    e,
    rows([
      ['A1 pod to cluster IP with no endpoints', POD, CIP, 80, 'REJECT'],
      ['A2 external to external IP with no endpoints', EXT, EXT_IP, 80, 'REJECT'],
      ['A3 pod to NodePort with no endpoints', POD, NODE, 3001, 'REJECT'],
      ['A4 external to NodePort with no endpoints', EXT, NODE, 3001, 'REJECT'],
      ['A5 pod to LoadBalancer IP with no endpoints', POD, LB1, 80, 'REJECT'],
      ['A6 external to LoadBalancer IP with no endpoints', EXT, LB1, 80, 'REJECT'],
      // Not in upstream's table: the node's own traffic takes the output (and local input) path.
      ['node to cluster IP with no endpoints', NODE, CIP, 80, 'REJECT'],
      ['node to NodePort with no endpoints', NODE, NODE, 3001, 'REJECT'],
      [
        'node to LoadBalancer IP with no endpoints (iptables: not rejected, KUBE-EXTERNAL-SERVICES is not on OUTPUT)',
        NODE,
        LB1,
        80,
        byMode({ nftables: 'REJECT', iptables: 'DROP', ipvs: 'REJECT' }),
      ],
    ]),
  );
});

const sourceRangesService = () =>
  svc({
    name: 'svc1',
    type: 'LoadBalancer',
    clusterIP: CIP,
    ports: [P80],
    lbIPs: [LB1, LB2],
    // Upstream's " 203.0.113.0/25" has a leading space on purpose (ranges are trimmed).
    sourceRanges: ['198.19.0.0/24', ' 198.19.100.0/25', 'fd00:19::/112', ' fd00:19::100:0/120'],
  });

test('C: loadBalancerSourceRanges drop blocked sources; NodePorts and the node itself are let through', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({
    'svc1.yaml': [sourceRangesService()],
    'svc1-slices.yaml': slices('svc1', [P80], [ep('198.18.180.1', REMOTE_NODE_NAME)]),
  });
  await runFlowCases(
    t,
    e,
    rows([
      ['C1 pod to cluster IP', POD, CIP, 80, EP],
      ['C2 external to nodePort', EXT, NODE, 3001, EP, true],
      ['C3 nodePort bypasses LoadBalancerSourceRanges', BLK, NODE, 3001, EP, true],
      ['C4 accepted external to LB1', EXT, LB1, 80, EP, true],
      ['C5 accepted external to LB2', EXT, LB2, 80, EP, true],
      ['C6 blocked external to LB1', BLK, LB1, 80, 'DROP'],
      ['C7 blocked external to LB2', BLK, LB2, 80, 'DROP'],
      ['C8 pod to LB1 (blocked by LoadBalancerSourceRanges)', POD, LB1, 80, 'DROP'],
      ['C9 pod to LB2 (blocked by LoadBalancerSourceRanges)', POD, LB2, 80, 'DROP'],
      ['C10 node to LB1 (allowed by LoadBalancerSourceRanges)', NODE, LB1, 80, EP, true],
      ['C11 node to LB2 (allowed by LoadBalancerSourceRanges)', NODE, LB2, 80, EP, true],
    ]),
  );
});

// C12/C13: traffic from the node whose source is the LB IP itself (a node that holds the LB IP,
// or that SNATs to it). A socket can only send from an address the node has, and the reply of a
// masqueraded flow is only delivered locally if the LB IP is local, so the LB IPs are added to
// the node's lo for these two cases.
test('C12–C13: the node sending from the LB IP itself is implicitly allowed', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({
    'svc1.yaml': [sourceRangesService()],
    'svc1-slices.yaml': slices('svc1', [P80], [ep('198.18.180.1', REMOTE_NODE_NAME)]),
  });
  const local = [LB1, LB2, v6Of(LB1), v6Of(LB2)];
  for (const ip of local) await e.sandbox.addAddress('node', ip);
  try {
    await runFlowCases(
      t,
      e,
      rows([
        ['C12 same node to LB1, SNATted to LB1 (implicitly allowed)', LB1, LB1, 80, EP, true],
        ['C13 same node to LB2, SNATted to LB2 (implicitly allowed)', LB2, LB2, 80, EP, true],
      ]),
    );
  } finally {
    for (const ip of local) await e.sandbox.removeAddress('node', ip);
  }
});

test('C: an IPv6 range that contains the node does not open IPv4, and the reverse (ranges are per family)', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  // Only IPv6 ranges, one of which holds the node: IPv4 has no ranges at all, so it is open to all.
  await e.apply({
    'svc1.yaml': [
      {
        ...sourceRangesService(),
        spec: { ...sourceRangesService().spec, loadBalancerSourceRanges: [`${IPV6_PLAN.nodeIP}/128`] },
      },
    ],
    'svc1-slices.yaml': slices('svc1', [P80], [ep('198.18.180.1', REMOTE_NODE_NAME)]),
  });
  await runFlowCases(t, e, rows([['blocked external to LB1', BLK, LB1, 80, EP, true]]), {
    families: ['IPv4'],
  });
  await runFlowCases(
    t,
    e,
    rows([
      ['blocked external to LB1', BLK, LB1, 80, 'DROP'],
      ['node to LB1 (its address is the range)', NODE, LB1, 80, EP, true],
    ]),
    { families: ['IPv6'] },
  );
});
