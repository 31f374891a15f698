// Endpoint selection on the real kernel: upstream groups G (internalTrafficPolicy), H and I
// (terminating endpoints with externalTrafficPolicy Local / Cluster). Each step rewrites the
// EndpointSlice files and replays the flows; the last step deletes them.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FAMILIES, inFamily } from '../../src/sandbox/addresses.ts';
import {
  clusterObjects,
  type EndpointOptions,
  EXT,
  ep,
  NODE,
  NODE_NAME,
  POD,
  slices,
  svc,
} from '../harness/dual-stack.ts';
import { rows, runFlowCases } from '../harness/flow-cases.ts';
import { requireKernel } from '../harness/kernel.ts';
import { byMode } from '../harness/mode.ts';
import { type ProxyEnv, sharedEnv } from '../harness/proxy-env.ts';

const CIP = '198.19.17.1';
const LB = '198.19.200.4';
const ip = (n: number) => `198.18.10.${n}`;
const out = (...ns: number[]) => ns.map((n) => `${ip(n)}:80`).join(', ');
const L = NODE_NAME;

const env = sharedEnv({
  pods: [
    // .1–.4 run on this node, .5 on the remote one (as most of upstream's slices place them).
    ...[1, 2, 3, 4].map((n) => ({
      name: `ep${n}`,
      ip: ip(n),
      ports: [{ protocol: 'TCP' as const, port: 80 }],
    })),
    { name: 'ep5', ip: ip(5), node: 'remote' as const, ports: [{ protocol: 'TCP' as const, port: 80 }] },
    { name: 'pod', ip: POD, ports: [] },
  ],
  manifests: { 'cluster.yaml': clusterObjects() },
});
after(() => env.close());

const SLICE_FILE = 'svc1-slices.yaml';

async function setEndpoints(
  e: ProxyEnv,
  port: { name?: string; port: number },
  eps: EndpointOptions[] | null,
) {
  await e.apply({ [SLICE_FILE]: eps === null ? null : slices('svc1', [port], eps) });
}

test('G: internalTrafficPolicy', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  const port = { port: 80 }; // upstream's port has no name
  const clusterIP = (iTP: 'Cluster' | 'Local') => [svc({ name: 'svc1', clusterIP: CIP, ports: [port], iTP })];
  const steps: [string, 'Cluster' | 'Local', EndpointOptions[], string][] = [
    [
      'G1 iTP Cluster: all endpoints',
      'Cluster',
      [ep(ip(1), L), ep(ip(2), 'node1'), ep(ip(3), 'node2')],
      out(1, 2, 3),
    ],
    [
      'G2 iTP Local: only the local endpoint',
      'Local',
      [ep(ip(1), L), ep(ip(2), 'node1'), ep(ip(3), 'node2')],
      out(1),
    ],
    [
      'G3 iTP Local: both local endpoints',
      'Local',
      [ep(ip(1), L), ep(ip(2), L), ep(ip(3), 'node2')],
      out(1, 2),
    ],
    [
      'G4 iTP Local without local endpoints drops',
      'Local',
      [ep(ip(1), 'node0'), ep(ip(2), 'node1'), ep(ip(3), 'node2')],
      // IPVS: a virtual server without real servers answers with ICMP port unreachable.
      byMode({ nftables: 'DROP', iptables: 'DROP', ipvs: 'REJECT' }),
    ],
  ];
  for (const [name, iTP, eps, output] of steps) {
    await e.apply({ 'svc1.yaml': clusterIP(iTP), [SLICE_FILE]: slices('svc1', [port], eps) });
    await runFlowCases(t, e, rows([[name, POD, CIP, 80, output]]));
  }
  for (const iTP of ['Cluster', 'Local'] as const) {
    await e.apply({ 'svc1.yaml': clusterIP(iTP), [SLICE_FILE]: null });
    await runFlowCases(t, e, rows([[`G5 iTP ${iTP}: endpoints deleted, rejected`, POD, CIP, 80, 'REJECT']]));
  }
});

const loadBalancer = (eTP: 'Local' | 'Cluster') =>
  svc({
    name: 'svc1',
    type: 'LoadBalancer',
    clusterIP: CIP,
    ports: [{ name: 'p80', port: 80 }],
    lbIPs: [LB],
    eTP,
    ...(eTP === 'Local' && { healthCheckNodePort: 30000 }),
  });
const P80 = { name: 'p80', port: 80 };

test('H: terminating endpoints with externalTrafficPolicy Local', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({ 'svc1.yaml': [loadBalancer('Local')] });
  // [internal id, external id, what the slice holds], endpoints, pod→ClusterIP, external→LB, and
  // the health check's local endpoint count (ready local endpoints only, terminating ones do not count).
  const steps: [[string, string, string], EndpointOptions[], string, string, number][] = [
    [
      ['H1', 'H2', 'ready local and remote endpoints'],
      [
        ep(ip(1), L, 'RS'),
        ep(ip(2), L, 'RS'),
        ep(ip(3), L, 'ST'),
        ep(ip(4), L, 'T'),
        ep(ip(5), 'node-1', 'RS'),
      ],
      out(1, 2, 5),
      out(1, 2),
      2,
    ],
    [
      ['H3', 'H4', 'only serving-terminating local endpoints'],
      [ep(ip(2), L, 'ST'), ep(ip(3), L, 'ST'), ep(ip(4), L, 'T'), ep(ip(5), 'node-1', 'RS')],
      out(5),
      out(2, 3),
      0,
    ],
    [
      ['H5', 'H6', 'only a remote serving-terminating endpoint'],
      [ep(ip(5), 'node-1', 'ST')],
      out(5),
      // IPVS mode, as upstream's (kubernetes#97081): no local endpoint, so the cluster's serve.
      byMode({ nftables: 'DROP', iptables: 'DROP', ipvs: out(5) }),
      0,
    ],
    [
      ['H7', 'H7', 'only non-serving terminating endpoints'],
      [ep(ip(5), L, 'T'), ep(ip(5), 'node-1', 'T')],
      'REJECT',
      'REJECT',
      0,
    ],
  ];
  for (const [[a, b, what], eps, internal, external, localReady] of steps) {
    await setEndpoints(e, P80, eps);
    await runFlowCases(
      t,
      e,
      rows([
        [`${a} pod to cluster IP (${what})`, POD, CIP, 80, internal],
        [`${b} external to LB IP (${what})`, EXT, LB, 80, external],
      ]),
    );
    await t.test(`${a} health check: ${localReady} ready local endpoints (${what})`, async () => {
      const results = await e.sandbox.probe(
        'client',
        FAMILIES.map((f) => ({
          proto: 'http' as const,
          dst: inFamily(NODE, f),
          port: 30000,
          timeoutMs: 2000,
        })),
      );
      for (const r of results) {
        assert.equal(r.status, localReady > 0 ? 200 : 503, JSON.stringify(r));
        assert.equal(JSON.parse(r.body ?? '{}').localEndpoints, localReady, JSON.stringify(r));
      }
    });
  }
  await setEndpoints(e, P80, null);
  await runFlowCases(
    t,
    e,
    rows([
      ['H8 endpoints deleted: pod to cluster IP', POD, CIP, 80, 'REJECT'],
      ['H8 endpoints deleted: external to LB IP', EXT, LB, 80, 'REJECT'],
    ]),
  );
});

test('I: terminating endpoints with externalTrafficPolicy Cluster', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({ 'svc1.yaml': [loadBalancer('Cluster')] });
  const steps: [string, EndpointOptions[], string][] = [
    [
      'I1 ready endpoints win over terminating ones',
      [
        ep(ip(1), L, 'RS'),
        ep(ip(2), L, 'RS'),
        ep(ip(3), 'another', 'ST'),
        ep(ip(4), 'another', 'T'),
        ep(ip(5), 'another', 'RS'),
      ],
      out(1, 2, 5),
    ],
    [
      'I2 no ready endpoint: all serving-terminating ones',
      [ep(ip(2), L, 'ST'), ep(ip(3), L, 'ST'), ep(ip(4), 'another', 'T'), ep(ip(5), 'another', 'ST')],
      out(2, 3, 5),
    ],
    ['I3 a remote serving-terminating endpoint', [ep(ip(5), 'node-1', 'ST')], out(5)],
    ['I4 only non-serving terminating endpoints', [ep(ip(5), L, 'T'), ep(ip(5), 'node-1', 'T')], 'REJECT'],
  ];
  for (const [name, eps, output] of steps) {
    await setEndpoints(e, P80, eps);
    await runFlowCases(
      t,
      e,
      rows([
        [`${name}: pod to cluster IP`, POD, CIP, 80, output],
        [`${name}: external to LB IP`, EXT, LB, 80, output, output !== 'REJECT'],
      ]),
    );
  }
});
