// A mode of the randomised differential is a description: how to start upstream kube-proxy and
// kube-proxy-ts in it, what the node needs before either starts, and how to read its rules for a
// report. The runner knows nothing else about modes, so a new one (IPVS in its guest kernel) is one
// more entry here with its own launchers.
import { mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../../src/sandbox/exec.ts';
import type { ReferenceBinaries } from '../binaries.ts';
import type { ProxyLauncher } from '../differential.ts';
import { kubeProxyTsLauncher } from '../kube-proxy-ts.ts';
import { tempDir } from '../procs.ts';
import { upstreamLauncher } from '../upstream-kube-proxy.ts';

export interface ModeDescription {
  /** How the CLI and reports name it. */
  readonly name: string;
  upstream(bins: ReferenceBinaries): ProxyLauncher;
  ours(): ProxyLauncher;
  /** Run in the node namespace before a proxy starts (idempotent). */
  prepareNode?(nodeNs: string): Promise<void>;
  /** The node's rules, for a report of a difference. */
  rules(nodeNs: string): Promise<string>;
}

async function inNs(nodeNs: string, cmd: string, args: string[]): Promise<string> {
  const r = await run('ip', ['netns', 'exec', nodeNs, cmd, ...args], { allowFail: true });
  return r.stdout + r.stderr;
}

/** A directory whose iptables, ip6tables and their -save/-restore are the legacy variant. */
let legacyPath: string | undefined;
function legacyBinDir(): string {
  if (legacyPath) return legacyPath;
  const dir = join(tempDir('legacy'), 'bin');
  mkdirSync(dir, { recursive: true });
  for (const fam of ['iptables', 'ip6tables'])
    for (const suffix of ['', '-save', '-restore'])
      symlinkSync(`/usr/sbin/${fam}-legacy${suffix}`, join(dir, `${fam}${suffix}`));
  legacyPath = dir;
  return dir;
}

function iptablesMode(variant: 'nft' | 'legacy'): ModeDescription {
  return {
    name: `iptables-${variant}`,
    upstream: (bins) =>
      upstreamLauncher(bins, 'iptables', {
        name: `upstream kube-proxy ${bins.k8sVersion} (iptables, ${variant})`,
        // Upstream runs whatever "iptables" is on its PATH (its image picks with a wrapper script).
        ...(variant === 'legacy'
          ? { env: { PATH: `${legacyBinDir()}:${process.env.PATH ?? '/usr/sbin:/usr/bin'}` } }
          : {}),
      }),
    ours: () => kubeProxyTsLauncher([], { mode: 'iptables', name: `kube-proxy-ts (iptables, ${variant})` }),
    // kube-proxy-ts picks the variant as upstream's wrapper does: kubelet's hint chain first.
    prepareNode: async (nodeNs) => {
      if (variant !== 'legacy') return;
      for (const bin of ['iptables-legacy', 'ip6tables-legacy'])
        await run(
          'ip',
          ['netns', 'exec', nodeNs, bin, '-w', '5', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT'],
          {
            allowFail: true,
          },
        );
    },
    rules: async (nodeNs) =>
      (await inNs(nodeNs, `iptables-${variant}-save`, [])) +
      (await inNs(nodeNs, `ip6tables-${variant}-save`, [])),
  };
}

export const MODES: readonly ModeDescription[] = [
  {
    name: 'nftables',
    upstream: (bins) => upstreamLauncher(bins, 'nftables'),
    ours: () => kubeProxyTsLauncher([], { mode: 'nftables' }),
    rules: (nodeNs) => inNs(nodeNs, 'nft', ['list', 'ruleset']),
  },
  iptablesMode('nft'),
  iptablesMode('legacy'),
];

export function modeByName(name: string): ModeDescription {
  const m = MODES.find((x) => x.name === name);
  if (!m) throw new Error(`--mode ${name}: want one of ${MODES.map((x) => x.name).join(', ')}`);
  return m;
}
