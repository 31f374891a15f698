// `kube-proxy-ts explain packet` on a live node: for each case, the outcome it prints (from the
// kernel's own listing of the rules) is the outcome the real packet had — which pods answered,
// whether they saw the node's address, REJECT, DROP, or "not handled" (the node itself answered).
// Runs in the pass's proxy mode; explain detects it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Flow } from '../../src/sandbox/flows.ts';
import { PROXY_BIN } from '../../src/sandbox/proxy.ts';
import { requireKernel } from '../harness/kernel.ts';
import { PROXY_MODE } from '../harness/mode.ts';
import { endpointSlice, HTTP, node, service, serviceCIDR } from '../harness/objects.ts';
import { sharedEnv } from '../harness/proxy-env.ts';

const WEB = '198.19.16.10';
const IDLE = '198.19.16.30';
const env = sharedEnv({
  pods: [
    { name: 'pod-a', ip: '198.18.1.10' },
    { name: 'pod-b', ip: '198.18.1.11' },
  ],
  hostPorts: [{ protocol: 'TCP', port: 80 }],
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'web.yaml': [service('web', WEB, [HTTP]), endpointSlice('web', ['198.18.1.10', '198.18.1.11'], [HTTP])],
    'idle.yaml': [service('idle', IDLE, [HTTP])],
  },
});
after(() => env.close());

interface Report {
  verdict: string;
  endpoints: string[];
  masquerade: boolean;
  service?: string;
}

const CASES: [string, string, string, number][] = [
  ['client to a ClusterIP with two endpoints', '198.19.0.1', WEB, 80],
  ['pod to a ClusterIP (hairpin included)', '198.18.1.10', WEB, 80],
  ['client to a ClusterIP without endpoints', '198.19.0.1', IDLE, 80],
  ['client to an unallocated address in the ServiceCIDR', '198.19.0.1', '198.19.16.99', 80],
  ['client to an unused port of a ClusterIP', '198.19.0.1', WEB, 81],
  ['client to the node itself', '198.19.0.1', '198.19.0.2', 80],
];

for (const [name, src, dst, port] of CASES) {
  test(`explain packet: ${name} — what it prints is what the packet did`, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    await e.waitForAnswer('client', { proto: 'tcp', dst: WEB, port: 80, timeoutMs: 300 });
    const r = await e.sandbox.exec('node', PROXY_BIN, [
      'explain',
      'packet',
      '--from',
      src,
      '--to',
      `${dst}:${port}`,
      '--output',
      'json',
    ]);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout) as Report;
    const from = src === '198.19.0.1' ? 'client' : (e.sandbox.podByIP(src)?.name ?? 'node');
    const flow: Flow = { proto: 'tcp', dst, port, timeoutMs: 700 };
    const d = await e.sandbox.probeMany(from, flow, 12);
    t.diagnostic(
      `explain: ${rep.verdict} ${rep.endpoints.join(',')} masq=${rep.masquerade}; packets: ${JSON.stringify(d.pods)} reject=${d.reject} drop=${d.drop}`,
    );
    const actual =
      d.reject === d.total
        ? 'reject'
        : d.drop === d.total
          ? 'drop'
          : (d.pods.host ?? 0) === d.total
            ? 'not-handled'
            : 'dnat';
    // No kube-proxy rule: the node delivers (its own echo server answers) or routes the packet on;
    // the sandbox routes the ServiceCIDR back towards the client, where it is lost (iptables mode
    // has no reject for unused ports nor drop for unallocated ClusterIPs, as upstream).
    if (rep.verdict === 'not-handled' && actual === 'drop') assert.equal(PROXY_MODE, 'iptables');
    else assert.equal(rep.verdict, actual);
    if (actual !== 'dnat') return;
    const answered = Object.keys(d.pods)
      .map((p) => e.sandbox.podIP(p))
      .sort();
    assert.deepEqual(rep.endpoints.map((x) => x.split(':')[0]).sort(), answered);
    // The report's masquerade covers any of the endpoints (hairpin: only the pod reaching itself).
    const masqueraded = Object.keys(d.sources).some((s) => s !== src);
    assert.equal(rep.masquerade, masqueraded);
    assert.equal(rep.service, 'default/web:http');
  });
}
