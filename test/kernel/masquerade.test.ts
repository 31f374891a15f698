// Who gets masqueraded, on the real kernel: upstream group J (TestInternalExternalMasquerade) with
// all its variants — the ClusterCIDR local detector, no detector (no --cluster-cidr), masqueradeAll,
// and both — plus the BridgeInterface and InterfaceNamePrefix detect-local modes, which must give
// the base outcomes. One sandbox; the proxy restarts with each variant's flags.
import { after, test } from 'node:test';
import { clusterObjects, EXT, ep, NODE, POD, REMOTE_NODE_NAME, slices, svc } from '../harness/dual-stack.ts';
import { type FlowCase, overrideRows, type Row, rows, runFlowCases } from '../harness/flow-cases.ts';
import { requireKernel } from '../harness/kernel.ts';
import { byMode } from '../harness/mode.ts';
import { type ProxyFlags, sharedEnv } from '../harness/proxy-env.ts';

const LB = ['198.19.200.4', '198.19.200.8', '198.19.200.12'];
const local = (n: number) => `198.18.180.${n}`;
const remote = (n: number) => `198.18.181.${n}`;
const S = (n: number) => `${local(n)}:80, ${remote(n)}:80`;
const S1 = S(1);
const S2 = S(2);
const S3 = S(3);

const env = sharedEnv({
  pods: [
    ...[1, 2, 3].flatMap((n) => [
      { name: `svc${n}-local`, ip: local(n), ports: [{ protocol: 'TCP' as const, port: 80 }] },
      {
        name: `svc${n}-remote`,
        ip: remote(n),
        node: 'remote' as const,
        ports: [{ protocol: 'TCP' as const, port: 80 }],
      },
    ]),
    { name: 'pod', ip: POD, ports: [] },
  ],
  manifests: {
    'cluster.yaml': clusterObjects(),
    'services.yaml': [1, 2, 3].flatMap((n) => {
      const port = { name: 'p80', port: 80, nodePort: 3000 + n };
      return [
        svc({
          namespace: `ns${n}`,
          name: `svc${n}`,
          type: 'LoadBalancer',
          clusterIP: `198.19.16.4${n}`,
          ports: [port],
          lbIPs: [LB[n - 1]!],
          ...(n === 2 && { eTP: 'Local' as const, healthCheckNodePort: 30002 }),
          ...(n === 3 && { iTP: 'Local' as const }),
        }),
        ...slices(`svc${n}`, [port], [ep(local(n)), ep(remote(n), REMOTE_NODE_NAME)], {
          namespace: `ns${n}`,
        }),
      ];
    }),
  },
});
after(() => env.close());

// IPVS mode has no short-circuit for pods or the node: a NodePort or LB IP of an eTP Local service
// is a virtual server with the local endpoints only, whoever sends, and KUBE-NODE-PORT /
// KUBE-LOAD-BALANCER return for the -LOCAL sets before the mark (upstream's IPVS mode too; the
// differential's group E agrees for pods).
const S2_EXTERNAL = byMode({ nftables: S2, iptables: S2, ipvs: `${local(2)}:80` });

const BASE: Row[] = [
  ['J1 pod to ClusterIP', POD, '198.19.16.41', 80, S1, false],
  ['J2 pod to NodePort', POD, NODE, 3001, S1, true],
  ['J3 pod to LB', POD, LB[0]!, 80, S1, true],
  ['J4 node to ClusterIP', NODE, '198.19.16.41', 80, S1, true],
  ['J5 node to NodePort', NODE, NODE, 3001, S1, true],
  ['J6 node to LB', NODE, LB[0]!, 80, S1, true],
  ['J7 external to ClusterIP', EXT, '198.19.16.41', 80, S1, true],
  ['J8 external to NodePort', EXT, NODE, 3001, S1, true],
  ['J9 external to LB', EXT, LB[0]!, 80, S1, true],
  ['J10 pod to ClusterIP with eTP:Local', POD, '198.19.16.42', 80, S2, false],
  ['J11 pod to NodePort with eTP:Local', POD, NODE, 3002, S2_EXTERNAL, false],
  ['J12 pod to LB with eTP:Local', POD, LB[1]!, 80, S2_EXTERNAL, false],
  ['J13 node to ClusterIP with eTP:Local', NODE, '198.19.16.42', 80, S2, true],
  // Upstream's row uses port 3001 (svc1's NodePort), so it expects svc1's endpoints.
  ['J14 node to NodePort with eTP:Local (upstream uses port 3001)', NODE, NODE, 3001, S1, true],
  [
    'J15 node to LB with eTP:Local',
    NODE,
    LB[1]!,
    80,
    S2_EXTERNAL,
    byMode({ nftables: true, iptables: true, ipvs: false }),
  ],
  ['J16 external to ClusterIP with eTP:Local', EXT, '198.19.16.42', 80, S2, true],
  ['J17 external to NodePort with eTP:Local', EXT, NODE, 3002, `${local(2)}:80`, false],
  ['J18 external to LB with eTP:Local', EXT, LB[1]!, 80, `${local(2)}:80`, false],
  ['J19 pod to ClusterIP with iTP:Local', POD, '198.19.16.43', 80, `${local(3)}:80`, false],
  ['J20 pod to NodePort with iTP:Local', POD, NODE, 3003, S3, true],
  ['J21 pod to LB with iTP:Local', POD, LB[2]!, 80, S3, true],
  ['J22 node to ClusterIP with iTP:Local', NODE, '198.19.16.43', 80, `${local(3)}:80`, true],
  ['J23 node to NodePort with iTP:Local', NODE, NODE, 3003, S3, true],
  ['J24 node to LB with iTP:Local', NODE, LB[2]!, 80, S3, true],
  ['J25 external to ClusterIP with iTP:Local', EXT, '198.19.16.43', 80, `${local(3)}:80`, true],
  ['J26 external to NodePort with iTP:Local', EXT, NODE, 3003, S3, true],
  ['J27 external to LB with iTP:Local', EXT, LB[2]!, 80, S3, true],
];

/** The base table with some rows' output or masq replaced, keyed by row id ("J4"). */
function withOverrides(overrides: Record<string, { output?: string; masq?: boolean }>): FlowCase[] {
  return rows(overrideRows(BASE, overrides));
}

const NO_DETECTOR = {
  J4: { masq: false },
  J13: { masq: false },
  J22: { masq: false },
  J7: { masq: false },
  J16: { masq: false },
  J25: { masq: false },
  J11: { output: `${local(2)}:80` },
  J12: { output: `${local(2)}:80` },
};
const MASQUERADE_ALL = { J1: { masq: true }, J10: { masq: true }, J19: { masq: true } };

const VARIANTS: { name: string; flags: ProxyFlags; cases: FlowCase[] }[] = [
  { name: 'J (detect-local ClusterCIDR)', flags: {}, cases: withOverrides({}) },
  {
    name: 'J without a local detector (no --cluster-cidr)',
    flags: { clusterCIDR: null },
    cases: withOverrides(NO_DETECTOR),
  },
  {
    name: 'J with masqueradeAll',
    flags: { extraArgs: ['--masquerade-all'] },
    cases: withOverrides(MASQUERADE_ALL),
  },
  {
    name: 'J with masqueradeAll and no local detector',
    flags: { clusterCIDR: null, extraArgs: ['--masquerade-all'] },
    cases: withOverrides({ ...MASQUERADE_ALL, J11: NO_DETECTOR.J11, J12: NO_DETECTOR.J12 }),
  },
  {
    name: 'J with detect-local BridgeInterface (same outcomes as ClusterCIDR)',
    flags: {
      clusterCIDR: null,
      extraArgs: ['--detect-local-mode=BridgeInterface', '--pod-bridge-interface=kbr0'],
    },
    cases: withOverrides({}),
  },
  {
    name: 'J with detect-local InterfaceNamePrefix (same outcomes as ClusterCIDR)',
    flags: {
      clusterCIDR: null,
      extraArgs: ['--detect-local-mode=InterfaceNamePrefix', '--pod-interface-name-prefix=kbr'],
    },
    cases: withOverrides({}),
  },
];

for (const v of VARIANTS) {
  test(v.name, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    await e.useFlags(v.flags);
    await runFlowCases(t, e, v.cases);
  });
}
