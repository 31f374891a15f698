// `kube-proxy-ts explain service` on a live node: the proxy runs with --debug-explain, the CLI asks
// its metrics server (127.0.0.1:10249 in the node's namespace, the default) for its beliefs and
// reads the kernel itself. Checked: the endpoints chosen per traffic policy, the ones left out with
// their reasons, a kernel section that agrees (no difference); then one kernel object removed
// behind the proxy's back, reported as the difference before the drift check repairs it (the
// sync period is long). Runs in the pass's proxy mode.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { ServiceReport } from '../../src/cmd/explain-service.ts';
import { PROXY_BIN } from '../../src/sandbox/proxy.ts';
import { requireKernel } from '../harness/kernel.ts';
import { IPTABLES_VARIANT, PROXY_MODE } from '../harness/mode.ts';
import { HTTP, NODE_NAME, node, serviceCIDR } from '../harness/objects.ts';
import { sharedEnv } from '../harness/proxy-env.ts';

const NS = 'explain-svc';
const WEB = '198.19.16.40';
const NODE_PORT = 30080;
const env = sharedEnv({
  pods: [
    { name: 'pod-a', ip: '198.18.1.10' },
    { name: 'pod-b', ip: '198.18.1.11' },
  ],
  // Ten minutes: the drift check must not repair the tampered kernel while the test looks at it.
  extraArgs: ['--debug-explain', '--iptables-sync-period=10m'],
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'web.yaml': [
      {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { namespace: NS, name: 'web' },
        spec: {
          type: 'NodePort',
          externalTrafficPolicy: 'Local',
          clusterIP: WEB,
          clusterIPs: [WEB],
          ipFamilies: ['IPv4'],
          ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: NODE_PORT }],
        },
      },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { namespace: NS, name: 'web-1', labels: { 'kubernetes.io/service-name': 'web' } },
        addressType: 'IPv4',
        ports: [{ name: 'http', protocol: 'TCP', port: HTTP.targetPort }],
        endpoints: [
          {
            addresses: ['198.18.1.10'],
            conditions: { ready: true, serving: true, terminating: false },
            nodeName: NODE_NAME,
          },
          {
            addresses: ['198.18.1.11'],
            conditions: { ready: false, serving: false, terminating: false },
            nodeName: NODE_NAME,
          },
          {
            addresses: ['198.18.1.12'],
            conditions: { ready: true, serving: true, terminating: false },
            nodeName: 'node-b',
          },
          {
            addresses: ['198.18.1.13'],
            conditions: { ready: false, serving: true, terminating: true },
            nodeName: NODE_NAME,
          },
        ],
      },
    ],
  },
});
after(() => env.close());

async function explain(json: boolean): Promise<{ code: number; stdout: string; stderr: string }> {
  const e = await env.get();
  return e.sandbox.exec(
    'node',
    PROXY_BIN,
    ['explain', 'service', `${NS}/web`, ...(json ? ['--output', 'json'] : [])],
    { allowFail: true },
  );
}

test('explain service: the beliefs (chosen and left-out endpoints) and a kernel that agrees', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.waitForSync();
  const r = await explain(true);
  assert.equal(r.code, 0, `${r.stderr}${await e.context()}`);
  const rep = JSON.parse(r.stdout) as ServiceReport;
  assert.equal(rep.service, `${NS}/web`);
  assert.equal(rep.families.length, 1);
  const f = rep.families[0]!;
  assert.equal(f.family, 'IPv4');
  assert.equal(f.mode, PROXY_MODE);
  const p = f.ports[0]!;
  assert.equal(p.name, `${NS}/web:http`);
  assert.deepEqual(p.internal, { policy: 'Cluster', verdict: 'endpoints' });
  assert.deepEqual(p.external, { policy: 'Local', verdict: 'endpoints' });
  assert.deepEqual(p.clusterEndpoints, ['198.18.1.10:8080', '198.18.1.12:8080']);
  assert.deepEqual(p.localEndpoints, ['198.18.1.10:8080']);
  assert.deepEqual(
    p.excluded.map((x) => `${x.endpoint} ${x.traffic} ${x.reason}`),
    [
      '198.18.1.11:8080 cluster not-ready',
      '198.18.1.13:8080 cluster terminating',
      '198.18.1.11:8080 local not-ready',
      '198.18.1.12:8080 local other-node',
      '198.18.1.13:8080 local terminating',
    ],
  );
  // The kernel section: read from the kernel, and in agreement.
  assert.deepEqual(f.kernel.differences, [], `${JSON.stringify(f.kernel, null, 2)}${await e.context()}`);
  const k = f.kernel.ports[0]!;
  assert.deepEqual(k.clusterEndpoints, ['198.18.1.10:8080', '198.18.1.12:8080']);
  assert.deepEqual(k.localEndpoints, ['198.18.1.10:8080']);
  assert.ok(
    k.entries.some((x) => x.key === `tcp . ${NODE_PORT}`),
    JSON.stringify(k.entries),
  );
  assert.equal(rep.differences, 0);

  const text = await explain(false);
  assert.equal(text.code, 0, text.stderr);
  t.diagnostic(`\n${text.stdout}`);
  assert.match(text.stdout, /Cluster-policy endpoints: 198\.18\.1\.10:8080, 198\.18\.1\.12:8080/);
  assert.match(text.stdout, /left out of Local-policy traffic: 198\.18\.1\.12:8080: other-node/);
  assert.match(text.stdout, /differences: none/);
});

test('explain service: an object removed behind the proxy back is reported as a difference', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.waitForSync();
  const before = JSON.parse((await explain(true)).stdout) as ServiceReport;
  assert.deepEqual(before.families[0]!.kernel.differences, []);
  let expected: RegExp;
  if (PROXY_MODE === 'nftables') {
    await e.sandbox.nft([
      'delete',
      'element',
      'ip',
      'kube-proxy',
      'service-nodeports',
      `{ tcp . ${NODE_PORT} }`,
    ]);
    expected = new RegExp(
      `missing-entry: ${NS}/web:http: service-nodeports tcp \\. ${NODE_PORT} : goto external-`,
    );
  } else {
    const svl = before.families[0]!.kernel.ports[0]!.chains.find((c) => /^KUBE-SVL-[A-Z2-7]{16}$/.test(c));
    assert.ok(svl, JSON.stringify(before.families[0]!.kernel.ports[0]));
    await e.sandbox.exec('node', `iptables-${IPTABLES_VARIANT}`, ['-w', '5', '-t', 'nat', '-F', svl]);
    expected = new RegExp(`missing-endpoint: ${NS}/web:http: Local-policy endpoint 198\\.18\\.1\\.10:8080`);
  }
  const r = await explain(false);
  assert.equal(r.code, 0, r.stderr);
  t.diagnostic(`\n${r.stdout}`);
  assert.match(r.stdout, /differences \(1\):/);
  assert.match(r.stdout, expected);
  const rep = JSON.parse((await explain(true)).stdout) as ServiceReport;
  assert.equal(rep.differences, 1);
  // The proxy's beliefs are unchanged: only the kernel lost something.
  assert.deepEqual(rep.families[0]!.ports, before.families[0]!.ports);
});
