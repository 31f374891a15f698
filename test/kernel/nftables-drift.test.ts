// nftables mode repairs its table when someone changes it behind its back, within one sync period
// and with no other change: the table deleted, one service chain flushed, one service-ips element
// removed. Each repair is counted in kubeproxy_sync_proxy_rules_drift_total. Runs in nftables mode
// in every pass of the kernel suite (the flag below overrides the pass's mode), with the pass's
// nftables writer (netlink, or nft with KPTS_TEST_NFTABLES_WRITER=cli).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { requireKernel } from '../harness/kernel.ts';
import { answered, CLUSTER_IP, echoEnv, TCP, waitForRepair } from '../harness/repair.ts';

const SYNC_PERIOD_S = 3;
const METRICS = '127.0.0.1:10249';

const EXTRA_ARGS = [
  '--proxy-mode=nftables',
  `--iptables-sync-period=${SYNC_PERIOD_S}s`,
  `--metrics-bind-address=${METRICS}`,
];

const env = echoEnv(EXTRA_ARGS);
after(() => env.close());

/** kubeproxy_sync_proxy_rules_drift_total{ip_family="IPv4"}, read in the node's namespace. */
async function driftTotal(): Promise<number> {
  const e = await env.get();
  const r = await e.sandbox.exec('node', 'curl', ['-sf', `http://${METRICS}/metrics`]);
  const m = /^kubeproxy_sync_proxy_rules_drift_total\{ip_family="IPv4"\} (\d+)$/m.exec(r.stdout);
  return m ? Number(m[1]) : 0;
}

async function serviceChain(): Promise<string> {
  const e = await env.get();
  const listed = JSON.parse(await e.sandbox.nft(['--json', 'list', 'chains', 'ip'])) as {
    nftables: { chain?: { table: string; name: string } }[];
  };
  const chain = listed.nftables
    .map((x) => x.chain)
    .find((c) => c?.table === 'kube-proxy' && /^service-[A-Z0-9]+-default\/echo\/tcp\/http$/.test(c.name));
  assert.ok(chain, 'the echo service chain');
  return chain.name;
}

const TAMPERS: [string, () => Promise<string[]>][] = [
  ['nft delete table ip kube-proxy', async () => ['delete', 'table', 'ip', 'kube-proxy']],
  [
    'nft flush chain (the service chain)',
    async () => ['flush', 'chain', 'ip', 'kube-proxy', await serviceChain()],
  ],
  [
    'nft delete element (the ClusterIP from service-ips)',
    async () => ['delete', 'element', 'ip', 'kube-proxy', 'service-ips', `{ ${CLUSTER_IP} . tcp . 80 }`],
  ],
];

for (const [name, command] of TAMPERS) {
  test(`${name} is repaired within one sync period (${SYNC_PERIOD_S} s), and counted`, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    await e.waitForAnswer('client', TCP);
    const before = await driftTotal();
    await e.sandbox.nft(await command());
    await e.sandbox.flushConntrack();
    const tampered = performance.now();
    assert.equal(await answered(e), false, 'the change took the Service down');
    // One sync period until the drift check, plus the full sync it forces.
    await waitForRepair(e, SYNC_PERIOD_S, 'the proxy to repair its table');
    t.diagnostic(`repaired ${Math.round(performance.now() - tampered)} ms after the change`);
    assert.equal(await driftTotal(), before + 1);
    assert.match(e.proxy.tail(), /Kernel rules differ from what was last written/);
  });
}

test('with nothing changed behind its back, the drift counter stays at zero over several sync periods', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  // Its own fresh proxy: the shared one has counted the tampering above.
  const e = await env.get();
  await e.restartProxy({ extraArgs: EXTRA_ARGS });
  await e.waitForAnswer('client', TCP);
  await new Promise((r) => setTimeout(r, SYNC_PERIOD_S * 1000 * 2 + 500));
  assert.equal(await driftTotal(), 0);
  assert.equal(await answered(e), true);
});
