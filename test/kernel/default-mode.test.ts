// Without --proxy-mode (kubeadm's `mode: ""`) kube-proxy-ts runs iptables mode, as upstream, and
// routes a Service: the KUBE-* chains are in iptables and the nftables table is not there.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Flow } from '../../src/sandbox/flows.ts';
import { requireKernel } from '../harness/kernel.ts';
import { IPTABLES_VARIANT, PROXY_MODE } from '../harness/mode.ts';
import { endpointSlice, HTTP, node, service, serviceCIDR } from '../harness/objects.ts';
import { sharedEnv } from '../harness/proxy-env.ts';

const TCP: Flow = { proto: 'tcp', dst: '198.19.16.10', port: 80 };

const env = sharedEnv({
  pods: [{ name: 'pod-a', ip: '198.18.1.10' }],
  defaultMode: true,
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'echo.yaml': [service('echo', TCP.dst, [HTTP]), endpointSlice('echo', ['198.18.1.10'], [HTTP])],
  },
});
after(() => env.close());

test('no --proxy-mode: iptables mode routes a ClusterIP', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.waitForAnswer('client', TCP);
  assert.match(e.proxy.tail(40), /Using iptables Proxier/);
  // In nftables passes no hint chain is planted: the proxy picks iptables-nft.
  const variant = PROXY_MODE === 'iptables' ? IPTABLES_VARIANT : 'nft';
  const nat = (await e.sandbox.exec('node', `iptables-${variant}-save`, ['-t', 'nat'])).stdout;
  assert.match(nat, /-A KUBE-SERVICES -d 198\.19\.16\.10\/32 .*-j KUBE-SVC-/, nat);
  assert.doesNotMatch(await e.sandbox.nft(['list', 'tables']), /kube-proxy/);
});
