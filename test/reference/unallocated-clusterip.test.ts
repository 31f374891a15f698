// Issue 20 end to end: kube-proxy-ts starts on a real kube-apiserver that already holds a Service,
// so its first full sync begins before the ServiceCIDRs are delivered. After the Service is
// deleted, its ClusterIP must be dropped ("unallocated ClusterIP") — which needs the CIDR rule
// that only a full sync writes. Before the fix this failed in 2 of 3 starts; each round here is a
// fresh start, so the race gets RUNS chances to show.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { requireReference } from './binaries.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { DifferentialEnv, type FlowCase, formatOutcome, type KubeObject, NODE_NAME } from './differential.ts';
import { kubeProxyTsLauncher } from './kube-proxy-ts.ts';
import { SCENARIO_TOPOLOGY } from './scenarios.ts';

const RUNS = 6;
const DYN_IP = '198.19.16.110';

let cp: ControlPlane | undefined;
after(() => cp?.stop());

const dyn: KubeObject = {
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'dyn', namespace: 'default' },
  spec: { clusterIP: DYN_IP, ports: [{ name: 'p80', protocol: 'TCP', port: 80, targetPort: 80 }] },
};
const dynSlice: KubeObject = {
  apiVersion: 'discovery.k8s.io/v1',
  kind: 'EndpointSlice',
  metadata: { name: 'dyn-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'dyn' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['198.18.182.1'], nodeName: NODE_NAME, conditions: { ready: true } }],
  ports: [{ name: 'p80', protocol: 'TCP', port: 80 }],
};
const flow: FlowCase = { id: 'dyn', from: 'pod', dst: DYN_IP, port: 80 };

test('after a restart with Services already present, a deleted Service’s ClusterIP is dropped', {
  timeout: 15 * 60_000,
}, async (t) => {
  const bins = await requireReference(t);
  if (!bins) return;
  cp = await startControlPlane({ binaries: bins });
  const env = await DifferentialEnv.create({
    controlPlane: cp,
    topology: SCENARIO_TOPOLOGY,
    samples: 3,
    dropTimeoutMs: 800,
  });
  try {
    const failures: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      await env.store.create(dyn);
      await env.store.create(dynSlice);
      await env.startProxy(kubeProxyTsLauncher());
      await env.sync(`start ${i}`);
      const [served] = await env.sendFlows([flow]);
      assert.equal(served!.output, '198.18.182.1:80', `run ${i}: ${formatOutcome(served!)}`);
      await env.store.delete(dynSlice);
      await env.store.delete(dyn);
      await env.sync(`delete ${i}`);
      const [o] = await env.sendFlows([flow]);
      if (o!.output !== 'DROP') failures.push(`run ${i}: ${formatOutcome(o!)}${await env.context()}`);
      await env.stopProxy();
    }
    assert.deepEqual(failures, [], `unallocated ClusterIP not dropped in ${failures.length} of ${RUNS} runs`);
  } finally {
    await env.close();
  }
});
