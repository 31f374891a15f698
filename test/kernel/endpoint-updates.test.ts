// Edits to an EndpointSlice file reach the kernel: traffic follows the new endpoints quickly.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Flow } from '../../src/sandbox/flows.ts';
import { requireKernel } from '../harness/kernel.ts';
import { DNS, endpointSlice, HTTP, node, service, serviceCIDR } from '../harness/objects.ts';
import { sharedEnv } from '../harness/proxy-env.ts';
import { show } from '../harness/traffic.ts';
import { TIME_SCALE, waitFor } from '../harness/wait.ts';

const CLUSTER_IP = '198.19.16.10';
const TCP: Flow = { proto: 'tcp', dst: CLUSTER_IP, port: 80 };
const UDP: Flow = { proto: 'udp', dst: CLUSTER_IP, port: 53 };
const IPS: Record<string, string> = {
  'pod-a': '198.18.1.10',
  'pod-b': '198.18.1.11',
  'pod-c': '198.18.1.12',
};
const FOLLOW_MS = 2000;

const env = sharedEnv({
  pods: Object.entries(IPS).map(([name, ip]) => ({ name, ip })),
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'echo-svc.yaml': [service('echo', CLUSTER_IP, [HTTP, DNS])],
    'echo-slice.yaml': [endpointSlice('echo', [IPS['pod-a']!], [HTTP, DNS])],
  },
});
after(() => env.close());

async function setEndpoints(pods: string[]): Promise<void> {
  const e = await env.get();
  await e.dir.write(
    'echo-slice.yaml',
    endpointSlice(
      'echo',
      pods.map((p) => IPS[p]!),
      [HTTP, DNS],
    ),
  );
}

/** Waits until a batch of TCP and UDP flows lands only on `pods` (each of them at least once). */
async function trafficFollows(pods: string[]): Promise<number> {
  const e = await env.get();
  const start = performance.now();
  await waitFor(
    async () => {
      const [tcp, udp] = await Promise.all([
        e.sandbox.probeMany('client', { ...TCP, timeoutMs: 300 }, 12),
        e.sandbox.probeMany('client', { ...UDP, timeoutMs: 300 }, 12),
      ]);
      const want = [...pods].sort().join();
      const ok = [tcp, udp].every(
        (d) => d.reject + d.drop + d.error === 0 && Object.keys(d.pods).sort().join() === want,
      );
      return ok ? { ok: true, value: undefined } : { ok: false, detail: `tcp ${show(tcp)} udp ${show(udp)}` };
    },
    { timeoutMs: FOLLOW_MS, intervalMs: 50, what: `traffic to land on exactly ${pods.join(', ')}` },
  ).catch(async (err: Error) => {
    throw new Error(`${err.message}${await e.context()}`);
  });
  return performance.now() - start;
}

test('traffic follows an edited EndpointSlice within 2 s', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.waitForAnswer('client', TCP);
  await trafficFollows(['pod-a']);

  await setEndpoints(['pod-b', 'pod-c']);
  t.diagnostic(`moved to pod-b, pod-c in ${Math.round(await trafficFollows(['pod-b', 'pod-c']))} ms`);

  await setEndpoints(['pod-a', 'pod-b', 'pod-c']);
  t.diagnostic(`grew to all three in ${Math.round(await trafficFollows(['pod-a', 'pod-b', 'pod-c']))} ms`);
});

test('removing every endpoint turns answers into rejects', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  await e.waitForAnswer('client', TCP);
  await setEndpoints([]);
  await waitFor(
    async () => {
      const rs = await e.sandbox.probe('client', [TCP, UDP]);
      return rs.every((r) => r.outcome === 'reject')
        ? { ok: true, value: undefined }
        : { ok: false, detail: JSON.stringify(rs) };
    },
    { timeoutMs: FOLLOW_MS, intervalMs: 50, what: 'TCP and UDP rejects after the endpoints went away' },
  );
  await setEndpoints(['pod-c']);
  const back = await trafficFollows(['pod-c']);
  // The same bound as the wait's (waitFor scales its timeout in the UML guest).
  assert.ok(back <= FOLLOW_MS * TIME_SCALE, `${back} ms`);
});
