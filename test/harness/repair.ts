// For the kernel tests that change the proxy's rules behind its back and wait for the repair
// (iptables-flush, nftables-drift): one pod behind a ClusterIP, whether every probe reaches it,
// and the wait for the repair.
import assert from 'node:assert/strict';
import type { Flow } from '../../src/sandbox/flows.ts';
import { endpointSlice, HTTP, node, service, serviceCIDR } from './objects.ts';
import { type ProxyEnv, sharedEnv } from './proxy-env.ts';
import { answeredBy, show } from './traffic.ts';
import { waitFor } from './wait.ts';

export const CLUSTER_IP = '198.19.16.10';
export const TCP: Flow = { proto: 'tcp', dst: CLUSTER_IP, port: 80, timeoutMs: 300 };

/** pod-a behind the ClusterIP service echo, the proxy started with `extraArgs`. */
export function echoEnv(extraArgs: string[]): ReturnType<typeof sharedEnv> {
  return sharedEnv({
    pods: [{ name: 'pod-a', ip: '198.18.1.10' }],
    extraArgs,
    manifests: {
      'cluster.yaml': [serviceCIDR(), node()],
      'echo.yaml': [service('echo', CLUSTER_IP, [HTTP]), endpointSlice('echo', ['198.18.1.10'], [HTTP])],
    },
  });
}

/** Whether six probes from the client all reach pod-a. */
export async function answered(e: ProxyEnv): Promise<boolean> {
  return answeredBy(await e.sandbox.probeMany('client', TCP, 6), 'pod-a', 6);
}

/**
 * Waits until six probes all reach pod-a again: one sync period until the proxy looks, plus the
 * full sync it forces. Fails with the proxy's context.
 */
export async function waitForRepair(e: ProxyEnv, syncPeriodS: number, what: string): Promise<void> {
  await waitFor(
    async () => {
      const d = await e.sandbox.probeMany('client', TCP, 6);
      return answeredBy(d, 'pod-a', 6) ? { ok: true, value: undefined } : { ok: false, detail: show(d) };
    },
    { timeoutMs: syncPeriodS * 1000 + 2000, intervalMs: 100, what },
  ).catch(async (err: Error) => assert.fail(`${err.message}${await e.context()}`));
}
