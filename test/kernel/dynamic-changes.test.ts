// A service's life through edited and deleted manifest files, on the real kernel: each step
// rewrites files while the proxy runs, waits until the proxy has synced them, then checks that the
// traffic follows (same packet-outcome language as the upstream tables, see flow-cases.ts).
import { after, test } from 'node:test';
import {
  clusterObjects,
  EXT,
  ep,
  NODE,
  POD,
  REMOTE_NODE_NAME,
  type ServiceOptions,
  slices,
  svc,
} from '../harness/dual-stack.ts';
import { type Row, rows, runFlowCases } from '../harness/flow-cases.ts';
import { requireKernel } from '../harness/kernel.ts';
import { byMode } from '../harness/mode.ts';
import { sharedEnv } from '../harness/proxy-env.ts';

const CIP = '198.19.16.60';
const EXT_IP = '198.19.99.60';
const LB = '198.19.200.60';
const NODE_PORT = 3060;
const LOCAL = '198.18.180.60';
const REMOTE = '198.18.181.60';
const BOTH = `${LOCAL}:80, ${REMOTE}:80`;

const env = sharedEnv({
  pods: [
    { name: 'web-local', ip: LOCAL, ports: [{ protocol: 'TCP', port: 80 }] },
    { name: 'web-remote', ip: REMOTE, node: 'remote', ports: [{ protocol: 'TCP', port: 80 }] },
    { name: 'pod', ip: POD, ports: [] },
  ],
  // Answers on the node port whenever it is not (or no longer) a NodePort.
  hostPorts: [{ protocol: 'TCP', port: NODE_PORT }],
  manifests: { 'cluster.yaml': clusterObjects() },
});
after(() => env.close());

const base: ServiceOptions = { name: 'web', clusterIP: CIP, ports: [{ name: 'http', port: 80 }] };
const withNodePort = { name: 'http', port: 80, nodePort: NODE_PORT };

type Step = [what: string, files: Record<string, object[] | null>, cases: Row[]];

const NO_LOCAL = byMode({ nftables: 'DROP', iptables: 'DROP', ipvs: `${REMOTE}:80` });
const NO_LOCAL_LABEL = byMode({ nftables: 'dropped', iptables: 'dropped', ipvs: 'the remote endpoint' });

const STEPS: Step[] = [
  [
    'a ClusterIP service appears',
    {
      'web.yaml': [svc(base)],
      'web-slices.yaml': slices('web', base.ports, [ep(LOCAL), ep(REMOTE, REMOTE_NODE_NAME)]),
    },
    [
      ['pod to cluster IP', POD, CIP, 80, BOTH],
      ['external to the future NodePort: the node itself answers', EXT, NODE, NODE_PORT, ''],
    ],
  ],
  [
    'it becomes a NodePort service',
    { 'web.yaml': [svc({ ...base, type: 'NodePort', ports: [withNodePort] })] },
    [
      ['pod to cluster IP', POD, CIP, 80, BOTH],
      ['external to NodePort', EXT, NODE, NODE_PORT, BOTH, true],
    ],
  ],
  [
    'it gets an external IP',
    { 'web.yaml': [svc({ ...base, type: 'NodePort', ports: [withNodePort], externalIPs: [EXT_IP] })] },
    [['external to external IP', EXT, EXT_IP, 80, BOTH, true]],
  ],
  [
    'it becomes a LoadBalancer with externalTrafficPolicy Local',
    {
      'web.yaml': [
        svc({
          ...base,
          type: 'LoadBalancer',
          ports: [withNodePort],
          externalIPs: [EXT_IP],
          lbIPs: [LB],
          eTP: 'Local',
          healthCheckNodePort: 30060,
        }),
      ],
    },
    [
      ['external to LB IP: local endpoint only', EXT, LB, 80, `${LOCAL}:80`],
      ['external to NodePort: local endpoint only', EXT, NODE, NODE_PORT, `${LOCAL}:80`],
      ['external to external IP: local endpoint only', EXT, EXT_IP, 80, `${LOCAL}:80`],
      ['pod to cluster IP', POD, CIP, 80, BOTH],
    ],
  ],
  [
    'its local endpoint goes away',
    { 'web-slices.yaml': slices('web', base.ports, [ep(REMOTE, REMOTE_NODE_NAME)]) },
    [
      // IPVS mode, as upstream's (kubernetes#97081): the external virtual servers fall back to the
      // cluster's endpoints; off-node traffic is answered, unmasqueraded, by the remote one.
      [`external to LB IP: ${NO_LOCAL_LABEL}`, EXT, LB, 80, NO_LOCAL],
      [`external to NodePort: ${NO_LOCAL_LABEL}`, EXT, NODE, NODE_PORT, NO_LOCAL],
      ['pod to cluster IP', POD, CIP, 80, `${REMOTE}:80`],
    ],
  ],
  [
    'its EndpointSlice files are deleted',
    { 'web-slices.yaml': null },
    [
      ['pod to cluster IP: rejected', POD, CIP, 80, 'REJECT'],
      ['external to LB IP: rejected', EXT, LB, 80, 'REJECT'],
      ['external to NodePort: rejected', EXT, NODE, NODE_PORT, 'REJECT'],
    ],
  ],
  [
    'endpoints come back and the service port moves from 80 to 8080',
    {
      'web.yaml': [svc({ ...base, ports: [{ name: 'http', port: 8080, targetPort: 80 }] })],
      'web-slices.yaml': slices('web', base.ports, [ep(LOCAL), ep(REMOTE, REMOTE_NODE_NAME)]),
    },
    [
      ['pod to the new port', POD, CIP, 8080, BOTH],
      [
        'pod to the old port: rejected in nftables mode (unknown port of a ClusterIP)',
        POD,
        CIP,
        80,
        byMode({ nftables: 'REJECT', iptables: 'DROP', ipvs: 'REJECT' }),
      ],
      ['external to the former NodePort: the node itself answers', EXT, NODE, NODE_PORT, ''],
    ],
  ],
  [
    'the Service file is deleted',
    { 'web.yaml': null },
    [['pod to the former cluster IP: dropped (unallocated)', POD, CIP, 8080, 'DROP']],
  ],
];

for (const [what, files, cases] of STEPS) {
  test(what, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    const start = performance.now();
    await e.apply(files);
    t.diagnostic(`synced ${Math.round(performance.now() - start)} ms after the files were written`);
    await runFlowCases(t, e, rows(cases));
  });
}
