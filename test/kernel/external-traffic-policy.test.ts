// externalTrafficPolicy on the real kernel: upstream groups E (Local) and F (Cluster), the
// health-check node port of an eTP Local service (200 with local endpoints, 503 without), and the
// DROP of external traffic when an eTP Local service has no endpoint on this node.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { FAMILIES, inFamily } from '../../src/sandbox/addresses.ts';
import type { FlowResult } from '../../src/sandbox/flows.ts';
import { clusterObjects, EXT, ep, NODE, POD, REMOTE_NODE_NAME, slices, svc } from '../harness/dual-stack.ts';
import { rows, runFlowCases } from '../harness/flow-cases.ts';
import { requireKernel } from '../harness/kernel.ts';
import { byMode } from '../harness/mode.ts';
import { type ProxyEnv, sharedEnv } from '../harness/proxy-env.ts';
import { waitFor } from '../harness/wait.ts';

const CIP = '198.19.16.41';
const EXT_IP = '198.19.99.11';
const LB = '198.19.200.4';
const HCNP = 30000;
const REMOTE = '198.18.180.1';
const LOCAL = '198.18.182.1';
const BOTH = `${REMOTE}:80, ${LOCAL}:80`;
const P80 = { name: 'p80', port: 80, nodePort: 3001 };

const env = sharedEnv({
  pods: [
    { name: 'ep-remote', ip: REMOTE, node: 'remote', ports: [{ protocol: 'TCP', port: 80 }] },
    { name: 'ep-local', ip: LOCAL, ports: [{ protocol: 'TCP', port: 80 }] },
    { name: 'pod', ip: POD, ports: [] },
  ],
  manifests: { 'cluster.yaml': clusterObjects() },
});
after(() => env.close());

const service = (etp: 'Local' | 'Cluster') =>
  svc({
    name: 'svc1',
    type: 'LoadBalancer',
    clusterIP: CIP,
    ports: [P80],
    externalIPs: [EXT_IP],
    lbIPs: [LB],
    eTP: etp,
    ...(etp === 'Local' && { healthCheckNodePort: HCNP }),
  });

const endpoints = (...ips: string[]) =>
  slices(
    'svc1',
    [P80],
    ips.map((ip) => ep(ip, ip === LOCAL ? undefined : REMOTE_NODE_NAME)),
  );

/** GET / on the health-check node port of every family's node IP, from the off-cluster client. */
async function healthCheck(e: ProxyEnv): Promise<FlowResult[]> {
  return e.sandbox.probe(
    'client',
    FAMILIES.map((f) => ({
      proto: 'http' as const,
      dst: inFamily(NODE, f),
      port: HCNP,
      src: inFamily(EXT, f),
      timeoutMs: 2000,
    })),
  );
}

// IPVS mode does not short-circuit pod traffic: an external address is one virtual server, which
// with policy Local has the local endpoints only, whoever sends (upstream's IPVS mode too).
const EXTERNAL_FROM_POD = byMode({ nftables: BOTH, iptables: BOTH, ipvs: `${LOCAL}:80` });

test('E: externalTrafficPolicy Local sends external traffic to local endpoints only', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({ 'svc1.yaml': [service('Local')], 'svc1-slices.yaml': endpoints(REMOTE, LOCAL) });
  await runFlowCases(
    t,
    e,
    rows([
      ['E1 pod to cluster IP hits both endpoints', POD, CIP, 80, BOTH],
      ['E2 pod to external IP hits both endpoints', POD, EXT_IP, 80, EXTERNAL_FROM_POD],
      ['E3 external to external IP hits only local endpoint', EXT, EXT_IP, 80, `${LOCAL}:80`],
      ['E4 pod to LB IP hits both endpoints', POD, LB, 80, EXTERNAL_FROM_POD],
      ['E5 external to LB IP hits only local endpoint', EXT, LB, 80, `${LOCAL}:80`],
      ['E6 pod to NodePort hits both endpoints', POD, NODE, 3001, EXTERNAL_FROM_POD],
      ['E7 external to NodePort hits only local endpoint', EXT, NODE, 3001, `${LOCAL}:80`],
      // Hairpin: the local endpoint reaching its own service through every entry point. Pod
      // traffic is short-circuited to all endpoints unmasqueraded; only the flows that land back
      // on the sender must be masqueraded (or its reply would skip the node's un-DNAT).
      ['hairpin via cluster IP', LOCAL, CIP, 80, BOTH, 'hairpin'],
      ['hairpin via external IP', LOCAL, EXT_IP, 80, EXTERNAL_FROM_POD, 'hairpin'],
      ['hairpin via LB IP', LOCAL, LB, 80, EXTERNAL_FROM_POD, 'hairpin'],
      ['hairpin via NodePort', LOCAL, NODE, 3001, EXTERNAL_FROM_POD, 'hairpin'],
    ]),
  );
});

test('health-check node port: 200 and the upstream body while a local endpoint is ready', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({ 'svc1.yaml': [service('Local')], 'svc1-slices.yaml': endpoints(REMOTE, LOCAL) });
  const results = await healthCheck(e);
  results.forEach((r, i) => {
    const ctx = `[${FAMILIES[i]}] ${JSON.stringify(r)}`;
    assert.equal(r.outcome, 'answer', ctx);
    assert.equal(r.status, 200, ctx);
    assert.equal(r.headers?.['content-type'], 'application/json', ctx);
    assert.equal(r.headers?.['x-content-type-options'], 'nosniff', ctx);
    assert.equal(r.headers?.['x-load-balancing-endpoint-weight'], '1', ctx);
    assert.deepEqual(
      JSON.parse(r.body ?? ''),
      { service: { namespace: 'ns1', name: 'svc1' }, localEndpoints: 1, serviceProxyHealthy: true },
      ctx,
    );
  });
});

// IPVS mode, as upstream's (kubernetes#97081): with no local endpoint the external virtual servers
// get the cluster's endpoints, so off-node traffic is answered, unmasqueraded, by a remote one.
const NO_LOCAL_EXTERNAL = byMode({ nftables: 'DROP', iptables: 'DROP', ipvs: `${REMOTE}:80` });

test(`eTP Local without a local endpoint: external traffic is ${byMode({ nftables: 'dropped', iptables: 'dropped', ipvs: 'answered by a remote endpoint' })}, the health check says 503`, async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({ 'svc1.yaml': [service('Local')], 'svc1-slices.yaml': endpoints(REMOTE) });
  await runFlowCases(
    t,
    e,
    rows([
      ['external to external IP', EXT, EXT_IP, 80, NO_LOCAL_EXTERNAL],
      ['external to LB IP', EXT, LB, 80, NO_LOCAL_EXTERNAL],
      ['external to NodePort', EXT, NODE, 3001, NO_LOCAL_EXTERNAL],
      // Pods and the node itself are short-circuited to all endpoints (upstream E2/E4/E6, J15).
      ['pod to cluster IP', POD, CIP, 80, `${REMOTE}:80`],
      ['pod to LB IP', POD, LB, 80, `${REMOTE}:80`],
      ['pod to NodePort', POD, NODE, 3001, `${REMOTE}:80`],
      // IPVS: KUBE-LOAD-BALANCER-LOCAL returns before the mark, so the node's own address is kept.
      [
        'node to LB IP',
        NODE,
        LB,
        80,
        `${REMOTE}:80`,
        byMode({ nftables: true, iptables: true, ipvs: false }),
      ],
    ]),
  );
  await t.test('health check answers 503 with localEndpoints 0', async () => {
    const results = await healthCheck(e);
    results.forEach((r, i) => {
      const ctx = `[${FAMILIES[i]}] ${JSON.stringify(r)}`;
      assert.equal(r.status, 503, ctx);
      assert.equal(r.headers?.['x-load-balancing-endpoint-weight'], '0', ctx);
      assert.deepEqual(
        JSON.parse(r.body ?? ''),
        { service: { namespace: 'ns1', name: 'svc1' }, localEndpoints: 0, serviceProxyHealthy: true },
        ctx,
      );
    });
  });
});

test('F: externalTrafficPolicy Cluster masquerades external traffic to every endpoint', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.apply({ 'svc1.yaml': [service('Cluster')], 'svc1-slices.yaml': endpoints(REMOTE, LOCAL) });
  await runFlowCases(
    t,
    e,
    rows([
      ['F1 pod to cluster IP hits both endpoints', POD, CIP, 80, BOTH],
      ['F2 pod to external IP hits both endpoints', POD, EXT_IP, 80, BOTH, true],
      ['F3 external to external IP hits both endpoints', EXT, EXT_IP, 80, BOTH, true],
      ['F4 pod to LB IP hits both endpoints', POD, LB, 80, BOTH, true],
      ['F5 external to LB IP hits both endpoints', EXT, LB, 80, BOTH, true],
      ['F6 pod to NodePort hits both endpoints', POD, NODE, 3001, BOTH, true],
      ['F7 external to NodePort hits both endpoints', EXT, NODE, 3001, BOTH, true],
    ]),
  );
  await t.test('the health-check node port is closed once the service is eTP Cluster', async () => {
    await waitFor(
      async () => {
        const rs = await healthCheck(e);
        return rs.every((r) => r.outcome === 'reject')
          ? { ok: true, value: undefined }
          : { ok: false, detail: JSON.stringify(rs) };
      },
      { timeoutMs: 3000, intervalMs: 100, what: 'the health-check port to refuse connections' },
    );
  });
});
