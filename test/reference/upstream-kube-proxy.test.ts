// Upstream kube-proxy (nftables mode) as the oracle: a real API server, objects created with the
// official client, kube-proxy in a throwaway node namespace, real TCP flows. The outcomes of
// upstream's packet-flow cases §3d A, C, E, F and G (re-addressed, see scenarios.ts) are recorded
// and checked against the documented expectations. The host must come out unchanged.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { run } from '../../src/sandbox/exec.ts';
import { requireReference } from './binaries.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import {
  checkExpectation,
  DifferentialEnv,
  formatOutcome,
  type Scenario,
  type ScenarioResult,
} from './differential.ts';
import { ALL_SCENARIOS, GROUP_A, GROUP_C, SCENARIO_TOPOLOGY, SERVICE_CIDRS } from './scenarios.ts';
import { upstreamLauncher } from './upstream-kube-proxy.ts';

// Host state kube-proxy could touch from inside a namespace if misconfigured (global conntrack
// knobs) and the host's own rules, which must never carry kube-proxy's tables or chains.
const HOST_FILES = [
  '/proc/sys/net/netfilter/nf_conntrack_max',
  '/proc/sys/net/nf_conntrack_max',
  '/sys/module/nf_conntrack/parameters/hashsize',
  '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_established',
  '/proc/sys/net/netfilter/nf_conntrack_tcp_timeout_close_wait',
  '/proc/sys/net/netfilter/nf_conntrack_tcp_be_liberal',
  '/proc/sys/net/netfilter/nf_conntrack_udp_timeout',
  '/proc/sys/net/netfilter/nf_conntrack_udp_timeout_stream',
  '/proc/sys/net/ipv4/conf/all/route_localnet',
  '/proc/sys/net/ipv4/ip_forward',
];

function hostFiles(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of HOST_FILES) {
    try {
      out[f] = readFileSync(f, 'utf8').trim();
    } catch {
      out[f] = '(absent)';
    }
  }
  return out;
}

async function hostKubeProxyState(): Promise<string[]> {
  const found: string[] = [];
  const tables = await run('nft', ['list', 'tables'], { allowFail: true });
  for (const line of tables.stdout.split('\n')) if (/\bkube-proxy\b/.test(line)) found.push(`nft: ${line}`);
  for (const save of ['iptables-save', 'ip6tables-save']) {
    const r = await run(save, [], { allowFail: true }).catch(() => ({ stdout: '' }));
    for (const line of r.stdout.split('\n')) if (/KUBE-/.test(line)) found.push(`${save}: ${line}`);
  }
  return found;
}

function report(results: readonly ScenarioResult[]): string {
  return results.map((r) => `# ${r.scenario}\n${r.flows.map(formatOutcome).join('\n')}`).join('\n');
}

function check(scenario: Scenario, result: ScenarioResult, context: string): void {
  const problems = scenario.flows
    .map((c, i) => checkExpectation(c, result.flows[i]!))
    .filter((p) => p !== '');
  assert.deepEqual(
    problems,
    [],
    `${scenario.name} differs from upstream's expectations:\n${report([result])}${context}`,
  );
}

let cp: ControlPlane | undefined;
after(() => cp?.stop());

test('upstream kube-proxy routes §3d flows (nftables)', { timeout: 45 * 60_000 }, async (t) => {
  const bins = await requireReference(t);
  if (!bins) return;
  const hostBefore = hostFiles();
  const hostRulesBefore = await hostKubeProxyState();
  cp = await startControlPlane({ binaries: bins });
  const env = await DifferentialEnv.create({ controlPlane: cp, topology: SCENARIO_TOPOLOGY });
  const results: ScenarioResult[] = [];
  try {
    await env.startProxy(upstreamLauncher(bins, 'nftables'));
    for (const scenario of [...ALL_SCENARIOS, SERVICE_CIDRS]) {
      await t.test(scenario.name, async () => {
        const result = await env.runScenario(scenario);
        results.push(result);
        check(scenario, result, await env.context());
      });
    }
    t.diagnostic(`recorded outcomes (${bins.k8sVersion}, nftables):\n${report(results)}`);
  } finally {
    await env.close();
  }

  await t.test('the host is unchanged', async () => {
    assert.deepEqual(hostFiles(), hostBefore, 'host conntrack/sysctl values');
    assert.deepEqual(await hostKubeProxyState(), hostRulesBefore, 'host nft tables / KUBE-* chains');
  });
});

test('upstream kube-proxy, iptables mode, groups A and C', { timeout: 45 * 60_000 }, async (t) => {
  const bins = await requireReference(t);
  if (!bins) return;
  const hostBefore = hostFiles();
  const hostRulesBefore = await hostKubeProxyState();
  cp ??= await startControlPlane({ binaries: bins });
  const env = await DifferentialEnv.create({ controlPlane: cp, topology: SCENARIO_TOPOLOGY });
  try {
    await env.startProxy(upstreamLauncher(bins, 'iptables'));
    for (const scenario of [GROUP_A, GROUP_C]) {
      await t.test(scenario.name, async () => {
        const result = await env.runScenario(scenario);
        check(scenario, result, await env.context());
      });
    }
  } finally {
    await env.close();
  }
  await t.test('the host is unchanged', async () => {
    assert.deepEqual(hostFiles(), hostBefore, 'host conntrack/sysctl values (route_localnet included)');
    assert.deepEqual(await hostKubeProxyState(), hostRulesBefore, 'host iptables: no KUBE-* chains');
  });
});
