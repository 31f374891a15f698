// The differential check: upstream kube-proxy and kube-proxy-ts, one after the other, in the same
// namespace topology against the same API server, on the same scenarios (upstream's §3d groups
// A, C, E, F, G and B10, re-addressed), in nftables and in iptables mode. Every flow must have the
// same outcome: the same backends, REJECT or DROP, and the same masquerading.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { requireReference } from './binaries.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { compareRuns, formatOutcome, runDifferential } from './differential.ts';
import { kubeProxyTsLauncher } from './kube-proxy-ts.ts';
import { ALL_SCENARIOS, SCENARIO_TOPOLOGY, SERVICE_CIDRS } from './scenarios.ts';
import { upstreamLauncher } from './upstream-kube-proxy.ts';

let cp: ControlPlane | undefined;
after(() => cp?.stop());

/**
 * The modes compared: nftables and iptables on the host; IPVS mode inside the user-mode-linux
 * guest (test/uml/suite.ts runs this file there with KPTS_TEST_DIFFERENTIAL_MODES=ipvs), since
 * this kernel has no IPVS.
 */
const MODES = (process.env.KPTS_TEST_DIFFERENTIAL_MODES ?? 'nftables,iptables').split(',') as (
  | 'nftables'
  | 'iptables'
  | 'ipvs'
)[];

for (const mode of MODES) {
  test(`kube-proxy-ts and upstream kube-proxy give identical outcomes (${mode} mode)`, {
    timeout: 60 * 60_000,
  }, async (t) => {
    const bins = await requireReference(t);
    if (!bins) return;
    cp ??= await startControlPlane({ binaries: bins });
    // B10 (unallocated ClusterIPs) is an nftables-mode rule; in iptables mode both proxies leave
    // those packets alone, which is compared too.
    const scenarios = [...ALL_SCENARIOS, SERVICE_CIDRS];
    const [upstream, ours] = await runDifferential(
      {
        controlPlane: cp,
        topology: SCENARIO_TOPOLOGY,
        // The UML guest (IPVS mode) has one slow CPU: fewer samples per flow keep the run in bounds.
        ...(mode === 'ipvs' && { samples: 10, settleMs: 10_000 }),
      },
      [upstreamLauncher(bins, mode), kubeProxyTsLauncher([], { mode })],
      scenarios,
    );
    const diffs = compareRuns(upstream!, ours!);
    const flows = ours!.scenarios.reduce((n, s) => n + s.flows.length, 0);
    t.diagnostic(`${mode}: ${scenarios.length} scenarios, ${flows} flows compared`);
    assert.deepEqual(diffs, [], `outcomes differ:\n${diffs.join('\n')}`);
    // A comparison of two empty runs would prove nothing: the flows really carried traffic.
    const answered = ours!.scenarios.flatMap((s) => s.flows).filter((f) => f.counts.answer > 0).length;
    assert.ok(
      answered > flows / 2,
      `only ${answered} of ${flows} flows were answered:\n${ours!.scenarios
        .flatMap((s) => s.flows)
        .map(formatOutcome)
        .join('\n')}`,
    );
  });
}
