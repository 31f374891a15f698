// Chaos inside a sync, on the real kernel: the proxy killed (SIGKILL) or stopped (SIGTERM) while
// its kernel transaction runs, and a kernel tool that fails every third transaction. What must
// hold: the kernel never holds half a sync (transactions are atomic), a restart's full sync
// reaches exactly the state a clean start reaches, and failed syncs are retried until nothing is
// lost.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Sandbox } from '../../src/sandbox/topology.ts';
import { clusterObjects, ep, slices, svc } from '../harness/dual-stack.ts';
import { requireKernel } from '../harness/kernel.ts';
import { IPTABLES_VARIANT, PROXY_MODE } from '../harness/mode.ts';
import { sharedEnv } from '../harness/proxy-env.ts';
import { waitForAnswer } from '../harness/traffic.ts';
import { waitFor } from '../harness/wait.ts';
import {
  cleanKernel,
  failingTools,
  settledSummary,
  stableSummary,
  summaryDiff,
  waitForExit,
  waitForTransaction,
} from './helpers.ts';

const V4 = ['IPv4'] as const;
const POD = '198.18.180.81';
const PORT = { name: 'http', port: 80, targetPort: 8080 };

/** Service i of a large set: 198.19.18.0 onwards (inside the ServiceCIDR 198.19.16.0/20). */
function bulk(count: number, generation: number): object[] {
  return Array.from({ length: count }, (_, i) => {
    const ip = `198.19.${18 + Math.floor(i / 250)}.${(i % 250) + 1}`;
    const name = `bulk-${i}`;
    // Each generation moves every Service to another port: a sync rewrites all of them.
    const port = { ...PORT, port: 80 + generation };
    return [
      svc({ name, clusterIP: ip, ports: [port], families: V4 }),
      ...slices(name, [port], [ep(POD)], { families: V4 }),
    ];
  }).flat();
}
const bulkIP = (i: number) => `198.19.${18 + Math.floor(i / 250)}.${(i % 250) + 1}`;

/** How many bulk Services the kernel routes, by service port. */
async function bulkPorts(sandbox: Sandbox): Promise<Record<string, number>> {
  const byPort: Record<string, number> = {};
  const count = (port: string) => {
    byPort[port] = (byPort[port] ?? 0) + 1;
  };
  if (PROXY_MODE === 'iptables') {
    const { stdout } = await sandbox.exec('node', `iptables-${IPTABLES_VARIANT}-save`, ['-t', 'nat']);
    for (const m of stdout.matchAll(/^-A KUBE-SERVICES -d 198\.19\.(?:1[89]|2\d)\.\d+\/32 .*--dport (\d+)/gm))
      count(m[1]!);
    return byPort;
  }
  const json = JSON.parse(await sandbox.nft(['-j', 'list', 'map', 'ip', 'kube-proxy', 'service-ips'])) as {
    nftables: { map?: { elem?: [{ concat?: (string | number)[] }, unknown][] } }[];
  };
  for (const entry of json.nftables)
    for (const [key] of entry.map?.elem ?? []) {
      const [ip, , port] = key.concat ?? [];
      if (typeof ip === 'string' && /^198\.19\.(1[89]|2\d)\./.test(ip)) count(String(port));
    }
  return byPort;
}

const env = sharedEnv({
  pods: [{ name: 'web', ip: POD }],
  manifests: { 'cluster.yaml': clusterObjects() },
});
after(() => env.close());

const COUNT = 1500;

async function restartAndCompare(e: Awaited<ReturnType<typeof env.get>>, generation: number, what: string) {
  // The restart's full sync must reach what a clean start reaches: compare with one.
  e.startProxyAgain();
  await e.waitForSync(20_000);
  for (const i of [0, COUNT >> 1, COUNT - 1])
    await waitForAnswer(e.sandbox, 'client', { proto: 'tcp', dst: bulkIP(i), port: 80 + generation });
  const afterKill = await settledSummary(e.sandbox, () => e.waitForSync());
  await e.signalProxy('SIGTERM');
  await cleanKernel(e.sandbox);
  e.startProxyAgain();
  await e.waitForSync(20_000);
  const clean = await stableSummary(e.sandbox, () => e.waitForSync());
  assert.deepEqual(
    afterKill,
    clean,
    `${what}: the restart after the kill programmed something else than a clean start:\n${summaryDiff(afterKill, clean)}`,
  );
}

for (const [signal, generation] of [
  ['SIGKILL', 1],
  ['SIGTERM', 2],
] as const) {
  test(`${signal} while the proxy applies a sync: the kernel holds a whole sync, a restart converges to a clean start's state`, async (t) => {
    if (!requireKernel(t, { proxy: true })) return;
    const e = await env.get();
    if (!e.proxyRunning) e.startProxyAgain();
    await e.waitForSync(20_000);
    const since = e.proxy.stderrLines.length;
    await e.dir.write('bulk.yaml', ...bulk(COUNT, generation));
    const pid = e.proxy.pid!;
    const child = await waitForTransaction(pid, 20_000, e.proxy, since);
    const status = await e.signalProxy(signal);
    t.diagnostic(`${signal} during: ${child.cmdline}`);
    if (signal === 'SIGTERM')
      assert.equal(status.code, 0, `SIGTERM mid-sync exits 0, not ${JSON.stringify(status)}`);
    else assert.equal(status.signal, 'SIGKILL');
    // The transaction under way finishes or not, whole: every bulk Service has the new port
    // (or, in the second test, still the old one), never a mix.
    await waitForExit(child.pid, 20_000);
    const ports = await bulkPorts(e.sandbox);
    t.diagnostic(`bulk Services by port after the ${signal}: ${JSON.stringify(ports)}`);
    const before = generation === 1 ? {} : { [79 + generation]: COUNT };
    const whole = [JSON.stringify(before), JSON.stringify({ [80 + generation]: COUNT })];
    assert.ok(whole.includes(JSON.stringify(ports)), `half a sync in the kernel: ${JSON.stringify(ports)}`);
    await restartAndCompare(e, generation, signal);
  });
}

test('a kernel tool failing every third transaction: failed syncs are retried, a full sync follows, nothing is lost', async (t) => {
  if (!requireKernel(t, { proxy: true })) return;
  const e = await env.get();
  if (!e.proxyRunning) e.startProxyAgain();
  await e.waitForSync(20_000);
  await e.dir.remove('bulk.yaml');
  await e.waitForSync(20_000);
  await e.signalProxy('SIGTERM');
  const tools = await failingTools();
  try {
    // A short sync period: a failed sync is retried after it (upstream's rule), not after 30 s.
    // nftables mode runs the nft binary here (--nftables-writer=cli): the fault is injected by
    // wrapping the binary. The netlink writer's refusals are covered by its kernel test.
    const proxy = e.startProxyAgain(
      {
        extraArgs: [
          '--iptables-sync-period=2s',
          ...(PROXY_MODE === 'nftables' ? ['--nftables-writer=cli'] : []),
        ],
      },
      { pathPrefix: [tools.dir] },
    );
    await e.waitForSync(20_000);
    // Ten Services, one at a time, each while earlier transactions keep failing.
    for (let i = 0; i < 10; i++) {
      const name = `flaky-${i}`;
      await e.dir.write(
        `${name}.yaml`,
        svc({ name, clusterIP: `198.19.17.${i + 1}`, ports: [PORT], families: V4 }),
        ...slices(name, [PORT], [ep(POD)], { families: V4 }),
      );
      await new Promise((r) => setTimeout(r, 150));
    }
    for (let i = 0; i < 10; i++)
      await waitForAnswer(e.sandbox, 'client', { proto: 'tcp', dst: `198.19.17.${i + 1}`, port: 80 }, 20_000);
    const calls = await tools.calls();
    t.diagnostic(`${calls} transactions, ${Math.floor(calls / 3)} of them failed by injection`);
    assert.ok(
      calls >= 3,
      `the wrapper saw ${calls} transactions: the injection never fired (does the proxy still run ${'`nft -f`'}?)`,
    );
    const failures = proxy.stderrLines.filter(
      (l) => l.includes('"Sync failed"') && l.includes('injected failure'),
    );
    assert.ok(failures.length > 0, `no "Sync failed" for an injected failure:\n${proxy.tail(20)}`);
    // After a failure the next sync is full.
    await waitFor(
      async () => {
        const i = proxy.stderrLines.findIndex((l) => l.includes('"Sync failed"'));
        const fullAfter = proxy.stderrLines
          .slice(i + 1)
          .some((l) => /SyncProxyRules complete.*full=true/.test(l));
        return fullAfter ? { ok: true, value: undefined } : { ok: false, detail: proxy.tail(10) };
      },
      { timeoutMs: 10_000, what: 'a full sync after the first failed one' },
    );
    // Nothing lost, nothing left over: once the proxy settled, the kernel holds what a clean
    // start with a healthy tool holds.
    const flaky = await settledSummary(e.sandbox, () => e.waitForSync(20_000), 40_000);
    await e.signalProxy('SIGTERM');
    await cleanKernel(e.sandbox);
    e.startProxyAgain();
    await e.waitForSync(20_000);
    const clean = await stableSummary(e.sandbox, () => e.waitForSync());
    assert.deepEqual(flaky, clean, summaryDiff(flaky, clean));
  } finally {
    await tools.close();
  }
});
