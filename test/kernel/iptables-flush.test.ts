// iptables mode repairs rules that someone flushes behind its back within one sync period:
// `iptables -t nat -F` (chains stay, rules go: caught by the sentinel jump rule) and a
// firewalld-style `-F` + `-X` (chains go too: caught by the canary chains, as upstream). Runs in
// iptables mode in every pass of the kernel suite (the flag below overrides the pass's mode).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Flow } from '../../src/sandbox/flows.ts';
import { requireKernel } from '../harness/kernel.ts';
import { IPTABLES_VARIANT, PROXY_MODE } from '../harness/mode.ts';
import { endpointSlice, HTTP, node, service, serviceCIDR } from '../harness/objects.ts';
import { sharedEnv } from '../harness/proxy-env.ts';
import { answeredBy, show } from '../harness/traffic.ts';
import { waitFor } from '../harness/wait.ts';

const SYNC_PERIOD_S = 3;
const CLUSTER_IP = '198.19.16.10';
const TCP: Flow = { proto: 'tcp', dst: CLUSTER_IP, port: 80, timeoutMs: 300 };
// Without a planted hint (nftables passes) the proxy picks iptables-nft, as detect.ts does.
const VARIANT = PROXY_MODE === 'iptables' ? IPTABLES_VARIANT : 'nft';

const env = sharedEnv({
  pods: [{ name: 'pod-a', ip: '198.18.1.10' }],
  extraArgs: ['--proxy-mode=iptables', `--iptables-sync-period=${SYNC_PERIOD_S}s`],
  manifests: {
    'cluster.yaml': [serviceCIDR(), node()],
    'echo.yaml': [service('echo', CLUSTER_IP, [HTTP]), endpointSlice('echo', ['198.18.1.10'], [HTTP])],
  },
});
after(() => env.close());

async function answered(): Promise<boolean> {
  return answeredBy(await (await env.get()).sandbox.probeMany('client', TCP, 6), 'pod-a', 6);
}

for (const [name, commands] of [
  ['iptables -t nat -F (chains stay)', [['-t', 'nat', '-F']]],
  [
    'iptables -F and -X in nat and filter (firewalld reload)',
    [
      ['-t', 'nat', '-F'],
      ['-t', 'nat', '-X'],
      ['-t', 'filter', '-F'],
      ['-t', 'filter', '-X'],
    ],
  ],
] as const) {
  test(`${name} is repaired within one sync period (${SYNC_PERIOD_S} s)`, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    await e.waitForAnswer('client', TCP);
    for (const args of commands) await e.sandbox.exec('node', `iptables-${VARIANT}`, ['-w', '5', ...args]);
    await e.sandbox.flushConntrack();
    assert.equal(await answered(), false, 'the flush took the Service down');
    const flushed = performance.now();
    await waitFor(
      async () => {
        const d = await e.sandbox.probeMany('client', TCP, 6);
        return answeredBy(d, 'pod-a', 6) ? { ok: true, value: undefined } : { ok: false, detail: show(d) };
      },
      // One sync period until the monitor looks, plus the full sync it forces.
      {
        timeoutMs: SYNC_PERIOD_S * 1000 + 2000,
        intervalMs: 100,
        what: 'the proxy to repair the flushed rules',
      },
    ).catch(async (err: Error) => assert.fail(`${err.message}${await e.context()}`));
    t.diagnostic(`repaired ${Math.round(performance.now() - flushed)} ms after the flush`);
  });
}
