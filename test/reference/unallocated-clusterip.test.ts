// Issue 20 end to end, on a real kube-apiserver: a ServiceCIDR that arrives while kube-proxy-ts is
// in the middle of a sync must still get its "drop unallocated ClusterIPs" rule, which only a full
// sync writes. nft is slowed down here (as on a busy node: each call waits NFT_DELAY first), so
// the sync that a Service change starts is still in the kernel when the ServiceCIDR's watch event
// arrives. Before the fix the request for a full sync was dropped at the end of that sync and the
// new range's drop rule never reached the kernel (seen here: cluster-ips-check kept only the first
// range). The check reads the node's ruleset: in this topology a flow that is not dropped by the
// proxy is lost on its way out of the node too, so the flow outcome alone could not tell.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { run } from '../../src/sandbox/exec.ts';
import { requireReference } from './binaries.ts';
import { type ControlPlane, startControlPlane } from './control-plane.ts';
import { DifferentialEnv, type FlowCase, formatOutcome, type KubeObject } from './differential.ts';
import { kubeProxyTsLauncher } from './kube-proxy-ts.ts';
import { SCENARIO_TOPOLOGY } from './scenarios.ts';

const RUNS = 3;
const NFT_DELAY_S = 1;

let cp: ControlPlane | undefined;
after(() => cp?.stop());

const trigger = (i: number): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: `trigger-${i}`, namespace: 'default' },
  spec: {
    clusterIP: `198.19.16.${120 + i}`,
    ports: [{ name: 'p80', protocol: 'TCP', port: 80, targetPort: 80 }],
  },
});
// Far apart, so that nft does not merge them into one interval in the listing.
const lateCIDR = (i: number) => `198.19.${64 + 8 * i}.0/24`;
const serviceCIDR = (i: number): KubeObject => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'ServiceCIDR',
  metadata: { name: `late-${i}` },
  spec: { cidrs: [lateCIDR(i)] },
});

test('a ServiceCIDR delivered during a sync gets its unallocated-ClusterIP drop rule', {
  timeout: 15 * 60_000,
}, async (t) => {
  const bins = await requireReference(t);
  if (!bins) return;
  cp = await startControlPlane({ binaries: bins });
  const slow = mkdtempSync(join(tmpdir(), 'kpts-slow-nft-'));
  const nft = execFileSync('sh', ['-c', 'command -v nft'], { encoding: 'utf8' }).trim();
  writeFileSync(join(slow, 'nft'), `#!/bin/sh\nsleep ${NFT_DELAY_S}\nexec ${nft} "$@"\n`);
  chmodSync(join(slow, 'nft'), 0o755);
  // The nft binary's writer, so that every sync really takes the slowed nft's time.
  const launcher = kubeProxyTsLauncher(['--iptables-min-sync-period=100ms', '--nftables-writer=cli'], {
    env: { PATH: `${slow}:${process.env.PATH ?? ''}` },
  });
  const env = await DifferentialEnv.create({
    controlPlane: cp,
    topology: SCENARIO_TOPOLOGY,
    samples: 3,
    dropTimeoutMs: 800,
  });
  try {
    await env.startProxy(launcher);
    await env.sync('start');
    const failures: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      // A Service change starts a sync that spends NFT_DELAY_S in "nft"; the ServiceCIDR's watch
      // event lands in that window.
      await env.store.create(trigger(i));
      await new Promise((r) => setTimeout(r, 400));
      await env.store.create(serviceCIDR(i));
      await env.sync(`run ${i}`);
      // The follow-up full sync takes a few (slowed) nft calls; without the fix it never comes.
      const cidr = lateCIDR(i);
      const deadline = performance.now() + 30_000;
      let chain = '';
      let dropLine: string | undefined;
      while (dropLine === undefined && performance.now() < deadline) {
        chain = (
          await run('ip', [
            'netns',
            'exec',
            env.topology.nodeNs,
            'nft',
            'list',
            'chain',
            'ip',
            'kube-proxy',
            'cluster-ips-check',
          ])
        ).stdout;
        dropLine = chain.split('\n').find((l) => l.includes(cidr) && /\bdrop\b/.test(l));
        if (dropLine === undefined) await new Promise((r) => setTimeout(r, 500));
      }
      const flow: FlowCase = { id: `late-${i}`, from: 'pod', dst: cidr.replace('.0/24', '.50'), port: 80 };
      const [o] = await env.sendFlows([flow]);
      if (dropLine === undefined || o!.output !== 'DROP')
        failures.push(
          `run ${i}: no drop rule for ${cidr}; ${formatOutcome(o!)}\n${chain}${await env.context()}`,
        );
    }
    assert.deepEqual(failures, [], `unallocated ClusterIP not dropped in ${failures.length} of ${RUNS} runs`);
  } finally {
    await env.close();
    rmSync(slow, { recursive: true, force: true });
  }
});
