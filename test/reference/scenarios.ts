// Upstream's packet-flow cases (the runPacketFlowTests tables of upstream's
// pkg/proxy/{nftables,iptables}/proxier_test.go) as differential-harness scenarios, re-addressed
// to 198.18.0.0/15 as in test/README.md:
//
//   pod 10.0.0.2 -> 198.18.0.2          node 192.168.0.2 -> 198.19.0.2
//   ext 203.0.113.2 -> 198.19.100.2     blk 203.0.113.130 -> 198.19.100.130
//   172.30.0.41 -> 198.19.16.41         172.30.1.1 -> 198.19.17.1
//   10.180.0.1 -> 198.18.180.1 (remote) 10.180.2.1 -> 198.18.182.1 (on test-node)
//   10.0.1.x -> 198.18.10.x             192.168.99.11 -> 198.19.99.11
//   1.2.3.4 -> 198.19.200.4             5.6.7.8 -> 198.19.200.8
//   192.168.0.0/24 -> 198.19.0.0/24     203.0.113.0/25 -> 198.19.100.0/25
//
// Not covered: C12/C13 (a node-local sender using the LB IP as its source, which needs the LB IP
// assigned on the node and would change the other flows).
import type { FlowCase, KubeObject, Scenario } from './differential.ts';
import { NODE_NAME } from './differential.ts';
import type { RefTopologySpec } from './topology.ts';

export const SVC_IP = '198.19.16.41';
export const ITP_SVC_IP = '198.19.17.1';
export const EXTERNAL_IP = '198.19.99.11';
export const LB_IP_1 = '198.19.200.4';
export const LB_IP_2 = '198.19.200.8';
export const NODE_PORT = 3001;
export const NODE_IP = '198.19.0.2';

const EP_REMOTE = '198.18.180.1';
const EP_LOCAL = '198.18.182.1';
const ITP_EPS = ['198.18.10.1', '198.18.10.2', '198.18.10.3'] as const;

/** Where the backends of all scenarios below live; one topology serves them all. */
export const SCENARIO_TOPOLOGY: RefTopologySpec = {
  localBackends: [EP_LOCAL, ITP_EPS[0], ITP_EPS[1]],
  remoteBackends: [EP_REMOTE, ITP_EPS[2]],
  ports: [{ protocol: 'TCP', port: 80 }],
};

const P80 = [{ name: 'p80', protocol: 'TCP', port: 80, targetPort: 80 }];

interface SvcOpts {
  ns?: string;
  name?: string;
  type: 'ClusterIP' | 'NodePort' | 'LoadBalancer';
  clusterIP: string;
  nodePort?: number;
  externalIPs?: string[];
  lbIPs?: string[];
  sourceRanges?: string[];
  eTP?: 'Local' | 'Cluster';
  iTP?: 'Local' | 'Cluster';
  hcnp?: number;
  portName?: string;
}

function service(o: SvcOpts): KubeObject {
  const ports = P80.map((p) => ({
    ...p,
    name: o.portName ?? p.name,
    ...(o.nodePort ? { nodePort: o.nodePort } : {}),
  }));
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: o.name ?? 'svc1', namespace: o.ns ?? 'ns1' },
    spec: {
      type: o.type,
      clusterIP: o.clusterIP,
      ports,
      ...(o.externalIPs ? { externalIPs: o.externalIPs } : {}),
      ...(o.sourceRanges ? { loadBalancerSourceRanges: o.sourceRanges } : {}),
      ...(o.eTP ? { externalTrafficPolicy: o.eTP } : {}),
      ...(o.iTP ? { internalTrafficPolicy: o.iTP } : {}),
      ...(o.hcnp ? { healthCheckNodePort: o.hcnp } : {}),
      // No cloud provider: the LB address is only what the status says.
      ...(o.type === 'LoadBalancer' ? { allocateLoadBalancerNodePorts: o.nodePort !== undefined } : {}),
    },
    ...(o.lbIPs ? { status: { loadBalancer: { ingress: o.lbIPs.map((ip) => ({ ip })) } } } : {}),
  };
}

/** The LoadBalancer of upstream's tests: a NodePort, one external IP and one LB IP. */
function lbService(o: Partial<SvcOpts> = {}): KubeObject {
  return service({
    type: 'LoadBalancer',
    clusterIP: SVC_IP,
    nodePort: NODE_PORT,
    externalIPs: [EXTERNAL_IP],
    lbIPs: [LB_IP_1],
    ...o,
  });
}

interface Ep {
  ip: string;
  /** Upstream leaves NodeName empty for "remote"; so do we unless given. */
  node?: string;
}

function slice(eps: Ep[], o: { ns?: string; svc?: string; portName?: string } = {}): KubeObject {
  const svc = o.svc ?? 'svc1';
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `${svc}-abcde`,
      namespace: o.ns ?? 'ns1',
      labels: { 'kubernetes.io/service-name': svc },
    },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      conditions: { ready: true, serving: true, terminating: false },
      ...(e.node ? { nodeName: e.node } : {}),
    })),
    ports: [{ name: o.portName ?? 'p80', protocol: 'TCP', port: 80 }],
  };
}

function flow(
  id: string,
  name: string,
  from: FlowCase['from'],
  dst: string,
  port: number,
  output: string,
  masq = false,
): FlowCase {
  return { id, name, from, dst, port, expect: { output, masq } };
}

/** A: TestNoEndpointsReject. */
export const GROUP_A: Scenario = {
  name: 'A TestNoEndpointsReject',
  objects: [lbService()],
  flows: [
    flow('A1', 'pod to cluster IP with no endpoints', 'pod', SVC_IP, 80, 'REJECT'),
    flow('A2', 'external to external IP with no endpoints', 'ext', EXTERNAL_IP, 80, 'REJECT'),
    flow('A3', 'pod to NodePort with no endpoints', 'pod', NODE_IP, NODE_PORT, 'REJECT'),
    flow('A4', 'external to NodePort with no endpoints', 'ext', NODE_IP, NODE_PORT, 'REJECT'),
    flow('A5', 'pod to LoadBalancer IP with no endpoints', 'pod', LB_IP_1, 80, 'REJECT'),
    flow('A6', 'external to LoadBalancer IP with no endpoints', 'ext', LB_IP_1, 80, 'REJECT'),
  ],
};

/** C: TestLoadBalancer (C12/C13 left out, see the top of the file). */
export const GROUP_C: Scenario = (() => {
  const EP = `${EP_REMOTE}:80`;
  return {
    name: 'C TestLoadBalancer',
    objects: [
      service({
        type: 'LoadBalancer',
        clusterIP: SVC_IP,
        nodePort: NODE_PORT,
        lbIPs: [LB_IP_1, LB_IP_2],
        sourceRanges: ['198.19.0.0/24', '198.19.100.0/25'],
      }),
      slice([{ ip: EP_REMOTE }]),
    ],
    flows: [
      flow('C1', 'pod to cluster IP', 'pod', SVC_IP, 80, EP),
      flow('C2', 'external to nodePort', 'ext', NODE_IP, NODE_PORT, EP, true),
      flow('C3', 'nodePort bypasses LoadBalancerSourceRanges', 'blk', NODE_IP, NODE_PORT, EP, true),
      flow('C4', 'accepted external to LB1', 'ext', LB_IP_1, 80, EP, true),
      flow('C5', 'accepted external to LB2', 'ext', LB_IP_2, 80, EP, true),
      flow('C6', 'blocked external to LB1', 'blk', LB_IP_1, 80, 'DROP'),
      flow('C7', 'blocked external to LB2', 'blk', LB_IP_2, 80, 'DROP'),
      flow('C8', 'pod to LB1 (blocked by LoadBalancerSourceRanges)', 'pod', LB_IP_1, 80, 'DROP'),
      flow('C9', 'pod to LB2 (blocked by LoadBalancerSourceRanges)', 'pod', LB_IP_2, 80, 'DROP'),
      flow('C10', 'node to LB1 (allowed by LoadBalancerSourceRanges)', 'node', LB_IP_1, 80, EP, true),
      flow('C11', 'node to LB2 (allowed by LoadBalancerSourceRanges)', 'node', LB_IP_2, 80, EP, true),
    ],
  };
})();

function trafficPolicyScenario(eTP: 'Local' | 'Cluster'): Scenario {
  const BOTH = `${EP_REMOTE}:80, ${EP_LOCAL}:80`;
  const LOCAL = `${EP_LOCAL}:80`;
  const local = eTP === 'Local';
  const p = local ? 'E' : 'F';
  return {
    name: local ? 'E TestExternalTrafficPolicyLocal' : 'F TestExternalTrafficPolicyCluster',
    objects: [
      lbService({ eTP, ...(local ? { hcnp: 30000 } : {}) }),
      slice([{ ip: EP_REMOTE }, { ip: EP_LOCAL, node: NODE_NAME }]),
    ],
    flows: local
      ? [
          flow('E1', 'pod to cluster IP hits both endpoints', 'pod', SVC_IP, 80, BOTH),
          flow('E2', 'pod to external IP hits both endpoints', 'pod', EXTERNAL_IP, 80, BOTH),
          flow('E3', 'external to external IP hits only local endpoint', 'ext', EXTERNAL_IP, 80, LOCAL),
          flow('E4', 'pod to LB IP hits both endpoints', 'pod', LB_IP_1, 80, BOTH),
          flow('E5', 'external to LB IP hits only local endpoint', 'ext', LB_IP_1, 80, LOCAL),
          flow('E6', 'pod to NodePort hits both endpoints', 'pod', NODE_IP, NODE_PORT, BOTH),
          flow('E7', 'external to NodePort hits only local endpoint', 'ext', NODE_IP, NODE_PORT, LOCAL),
          // Upstream's J15 (TestInternalExternalMasquerade): here because IPVS mode answers it its
          // own way (local endpoints, unmasqueraded), and only the differential can say it is upstream's.
          flow('E8', 'node to LB IP hits both endpoints, masqueraded (J15)', 'node', LB_IP_1, 80, BOTH, true),
        ]
      : [
          flow(`${p}1`, 'pod to cluster IP', 'pod', SVC_IP, 80, BOTH),
          flow(`${p}2`, 'pod to external IP', 'pod', EXTERNAL_IP, 80, BOTH, true),
          flow(`${p}3`, 'external to external IP', 'ext', EXTERNAL_IP, 80, BOTH, true),
          flow(`${p}4`, 'pod to LB IP', 'pod', LB_IP_1, 80, BOTH, true),
          flow(`${p}5`, 'external to LB IP', 'ext', LB_IP_1, 80, BOTH, true),
          flow(`${p}6`, 'pod to NodePort', 'pod', NODE_IP, NODE_PORT, BOTH, true),
          flow(`${p}7`, 'external to NodePort', 'ext', NODE_IP, NODE_PORT, BOTH, true),
        ],
  };
}

/** E: TestExternalTrafficPolicyLocal. */
export const GROUP_E = trafficPolicyScenario('Local');
/** F: TestExternalTrafficPolicyCluster. */
export const GROUP_F = trafficPolicyScenario('Cluster');

/** G: TestInternalTrafficPolicy, one scenario per case; G5 deletes the slice. */
export const GROUP_G: Scenario[] = (() => {
  const [e1, e2, e3] = ITP_EPS;
  const svc = (iTP: 'Local' | 'Cluster') =>
    service({ type: 'ClusterIP', clusterIP: ITP_SVC_IP, iTP, portName: '' });
  const eps = (nodes: [string, string, string]) =>
    slice(
      [
        { ip: e1, node: nodes[0] },
        { ip: e2, node: nodes[1] },
        { ip: e3, node: nodes[2] },
      ],
      { portName: '' },
    );
  const g = (id: string, name: string, output: string): FlowCase =>
    flow(id, name, 'pod', ITP_SVC_IP, 80, output);
  return [
    {
      name: 'G1 iTP Cluster',
      objects: [svc('Cluster'), eps([NODE_NAME, 'node1', 'node2'])],
      flows: [g('G1', 'iTP Cluster: all endpoints', `${e1}:80, ${e2}:80, ${e3}:80`)],
    },
    {
      name: 'G2 iTP Local, one local endpoint',
      objects: [svc('Local'), eps([NODE_NAME, 'node1', 'node2'])],
      flows: [g('G2', 'iTP Local: only the local endpoint', `${e1}:80`)],
    },
    {
      name: 'G3 iTP Local, two local endpoints',
      objects: [svc('Local'), eps([NODE_NAME, NODE_NAME, 'node2'])],
      flows: [g('G3', 'iTP Local: both local endpoints', `${e1}:80, ${e2}:80`)],
    },
    {
      name: 'G4 iTP Local, no local endpoint',
      objects: [svc('Local'), eps(['node0', 'node1', 'node2'])],
      flows: [g('G4', 'iTP Local without local endpoints', 'DROP')],
    },
    {
      name: 'G5 endpoints deleted',
      objects: [svc('Local')],
      flows: [g('G5', 'endpoints deleted', 'REJECT')],
    },
  ];
})();

/**
 * B10 of TestClusterIPGeneral (nftables only): traffic to an unallocated address of a ServiceCIDR is
 * dropped; here also for a second ServiceCIDR created through the API, which serves a Service too.
 * Last on purpose: nothing deletes the extra ServiceCIDR between scenarios.
 */
export const SERVICE_CIDRS: Scenario = {
  name: 'B10 ServiceCIDRs (nftables)',
  objects: [
    {
      apiVersion: 'networking.k8s.io/v1',
      kind: 'ServiceCIDR',
      metadata: { name: 'extra' },
      spec: { cidrs: ['198.19.64.0/24'] },
    },
    service({ type: 'ClusterIP', clusterIP: '198.19.64.41' }),
    slice([{ ip: EP_REMOTE }]),
  ],
  flows: [
    flow('B10', 'packet to unallocated cluster ip', 'pod', '198.19.16.50', 80, 'DROP'),
    flow('B10x', 'unallocated address of the extra ServiceCIDR', 'pod', '198.19.64.50', 80, 'DROP'),
    flow(
      'B10y',
      'Service with a ClusterIP from the extra ServiceCIDR',
      'pod',
      '198.19.64.41',
      80,
      `${EP_REMOTE}:80`,
    ),
  ],
};

/** §3d groups A, C, E, F, G, in the order the tests run them. */
export const ALL_SCENARIOS: Scenario[] = [GROUP_A, GROUP_C, GROUP_E, GROUP_F, ...GROUP_G];
