// iptables mode repairs rules that someone flushes behind its back within one sync period:
// `iptables -t nat -F` (chains stay, rules go: caught by the sentinel jump rule) and a
// firewalld-style `-F` + `-X` (chains go too: caught by the canary chains, as upstream). Runs in
// iptables mode in every pass of the kernel suite (the flag below overrides the pass's mode).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { requireKernel } from '../harness/kernel.ts';
import { IPTABLES_VARIANT, PROXY_MODE } from '../harness/mode.ts';
import { answered, echoEnv, TCP, waitForRepair } from '../harness/repair.ts';

const SYNC_PERIOD_S = 3;
// Without a planted hint (nftables passes) the proxy picks iptables-nft, as detect.ts does.
const VARIANT = PROXY_MODE === 'iptables' ? IPTABLES_VARIANT : 'nft';

const env = echoEnv(['--proxy-mode=iptables', `--iptables-sync-period=${SYNC_PERIOD_S}s`]);
after(() => env.close());

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
    assert.equal(await answered(e), false, 'the flush took the Service down');
    const flushed = performance.now();
    // One sync period until the monitor looks, plus the full sync it forces.
    await waitForRepair(e, SYNC_PERIOD_S, 'the proxy to repair the flushed rules');
    t.diagnostic(`repaired ${Math.round(performance.now() - flushed)} ms after the flush`);
  });
}
