// The operator's path end to end: bin/kube-proxy-ts reading a real kube-apiserver (no manifests)
// inside a node namespace, and a Service and EndpointSlice created with kubectl; traffic from an
// off-cluster client reaches both backends, and a kubectl edit (one backend removed) is followed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../../src/sandbox/exec.ts';
import { requireReference } from './binaries.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { DifferentialEnv, formatOutcome } from './differential.ts';
import { kubeProxyTsLauncher } from './kube-proxy-ts.ts';
import { SCENARIO_TOPOLOGY } from './scenarios.ts';

let cp: ControlPlane | undefined;
after(() => cp?.stop());

const service = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  clusterIP: 198.19.20.20
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 80}]
`;
const slice = (ips: string[]) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{name: http, port: 80, protocol: TCP}]
endpoints:
${ips.map((ip) => `- addresses: [${ip}]\n  nodeName: test-node`).join('\n')}
`;

test('kube-proxy-ts on the API routes a Service created with kubectl, and follows an edit', {
  timeout: 15 * 60_000,
}, async (t) => {
  const bins = await requireReference(t);
  if (!bins) return;
  cp = await startControlPlane({ binaries: bins });
  const dir = mkdtempSync(join(tmpdir(), 'kpts-kubectl-'));
  const env = await DifferentialEnv.create({ controlPlane: cp, topology: SCENARIO_TOPOLOGY });
  try {
    const kubectl = async (...args: string[]) => {
      const r = await run(bins.kubectl, ['--kubeconfig', cp!.adminKubeconfig, ...args], {
        allowFail: true,
        timeoutMs: 60_000,
      });
      assert.equal(r.code, 0, `kubectl ${args.join(' ')}:\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    await env.startProxy(kubeProxyTsLauncher());
    await env.sync('proxy started');
    writeFileSync(join(dir, 'svc.yaml'), service);
    writeFileSync(join(dir, 'slice.yaml'), slice(['198.18.182.1', '198.18.10.1']));
    await kubectl('apply', '-f', join(dir, 'svc.yaml'), '-f', join(dir, 'slice.yaml'));
    // A marker created after the kubectl objects answers only once the proxy has caught up.
    await env.sync('kubectl apply');
    const flow = { id: 'kubectl', from: 'ext' as const, dst: '198.19.20.20', port: 80 };
    let [o] = await env.sendFlows([flow]);
    assert.equal(o!.output, '198.18.10.1:80, 198.18.182.1:80', formatOutcome(o!));
    assert.equal(o!.masq, true, 'an off-cluster client is masqueraded');

    writeFileSync(join(dir, 'slice.yaml'), slice(['198.18.10.1']));
    await kubectl('apply', '-f', join(dir, 'slice.yaml'));
    await env.sync('kubectl edit');
    [o] = await env.sendFlows([flow]);
    assert.equal(o!.output, '198.18.10.1:80', formatOutcome(o!));

    await kubectl('delete', '-f', join(dir, 'svc.yaml'), '-f', join(dir, 'slice.yaml'));
    await env.sync('kubectl delete');
    [o] = await env.sendFlows([flow]);
    assert.equal(
      o!.output,
      'DROP',
      `an unallocated ClusterIP is dropped after the delete: ${formatOutcome(o!)}`,
    );
  } finally {
    await env.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
