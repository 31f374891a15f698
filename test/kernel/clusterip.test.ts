// ClusterIP traffic through the real kernel: balancing over every endpoint, the source address the
// backends see, and hairpin traffic (a pod reaching itself through its service).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Flow } from '../../src/sandbox/flows.ts';
import { requireKernel } from '../harness/kernel.ts';
import { modeLabel, PROXY_MODE } from '../harness/mode.ts';
import { DNS, endpointSlice, HTTP, node, service, serviceCIDR } from '../harness/objects.ts';
import { sharedEnv } from '../harness/proxy-env.ts';
import { assertBalanced, assertSources } from '../harness/traffic.ts';

const BACKENDS = ['pod-a', 'pod-b', 'pod-c'];
const CLUSTER_IP = '198.19.16.10';
const TCP: Flow = { proto: 'tcp', dst: CLUSTER_IP, port: 80 };
const UDP: Flow = { proto: 'udp', dst: CLUSTER_IP, port: 53 };
const PROBES = 30;

const env = sharedEnv({
  pods: [
    { name: 'pod-a', ip: '198.18.1.10' },
    { name: 'pod-b', ip: '198.18.1.11' },
    { name: 'pod-c', ip: '198.18.1.12' },
    // Not an endpoint: a pod client that is not also the backend.
    { name: 'pod-client', ip: '198.18.1.20', ports: [] },
  ],
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'echo.yaml': [
      service('echo', CLUSTER_IP, [HTTP, DNS]),
      endpointSlice('echo', ['198.18.1.10', '198.18.1.11', '198.18.1.12'], [HTTP, DNS]),
    ],
  },
});
after(() => env.close());

async function ready() {
  const e = await env.get();
  await e.waitForAnswer('client', TCP);
  await e.waitForAnswer('client', UDP);
  return e;
}

for (const [proto, flow] of [
  ['TCP', TCP],
  ['UDP', UDP],
] as const) {
  test(`${proto} from an off-cluster client reaches every endpoint, masqueraded to the node`, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await ready();
    const d = await e.sandbox.probeMany('client', flow, PROBES);
    const ctx = await e.context();
    assertBalanced(d, BACKENDS, ctx);
    assertSources(d, e.sandbox.plan.podGateway, ctx);
  });

  test(`${proto} from a pod reaches every endpoint with the pod's own source`, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await ready();
    const d = await e.sandbox.probeMany('pod-client', flow, PROBES);
    const ctx = await e.context();
    assertBalanced(d, BACKENDS, ctx);
    assertSources(d, e.sandbox.podIP('pod-client'), ctx);
  });

  test(`${proto} hairpin: a pod reaching itself via the ClusterIP is answered, masqueraded`, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await ready();
    const results = await e.sandbox.probe(
      'pod-a',
      Array.from({ length: PROBES }, () => flow),
    );
    const self = results.filter((r) => r.pod === 'pod-a');
    const ctx = `${JSON.stringify(results)}${await e.context()}`;
    assert.ok(
      results.every((r) => r.outcome === 'answer'),
      `every flow answered: ${ctx}`,
    );
    assert.ok(self.length > 0, `pod-a never landed on itself in ${PROBES} tries: ${ctx}`);
    for (const r of self) assert.equal(r.sawSource, e.sandbox.plan.podGateway, `hairpin source: ${ctx}`);
    for (const r of results.filter((r) => r.pod !== 'pod-a')) {
      assert.equal(r.sawSource, e.sandbox.podIP('pod-a'), `other backends see the pod itself: ${ctx}`);
    }
  });
}

test(`the ClusterIP is programmed into the kernel (${modeLabel()})`, async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await ready();
  if (PROXY_MODE === 'ipvs') {
    const listing = await e.ipvsadm();
    for (const [proto, port] of [
      ['TCP', 80],
      ['UDP', 53],
    ])
      assert.match(listing, new RegExp(`${proto}  198\\.19\\.16\\.10:${port} rr`), listing);
    return;
  }
  if (PROXY_MODE === 'iptables') {
    const nat = await e.iptablesSave('nat');
    for (const [proto, port] of [
      ['tcp', 80],
      ['udp', 53],
    ])
      assert.match(
        nat,
        new RegExp(`-A KUBE-SERVICES -d 198\\.19\\.16\\.10/32 -p ${proto} .*--dport ${port} -j KUBE-SVC-`),
        nat,
      );
    return;
  }
  const set = await e.sandbox.nft(['list', 'set', 'ip', 'kube-proxy', 'cluster-ips']);
  assert.match(set, /198\.19\.16\.10/, set);
  const map = await e.sandbox.nft(['list', 'map', 'ip', 'kube-proxy', 'service-ips']);
  for (const port of ['tcp . 80', 'udp . 53'])
    assert.ok(map.includes(`198.19.16.10 . ${port}`), `${port} in:\n${map}`);
});
