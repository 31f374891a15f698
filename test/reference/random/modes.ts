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
import type { FamilyChoice } from './cluster.ts';

export interface ModeDescription {
  /** How the CLI and reports name it. */
  readonly name: string;
  upstream(bins: ReferenceBinaries): ProxyLauncher;
  ours(): ProxyLauncher;
  /** Run in the node namespace before a proxy starts (idempotent). */
  prepareNode?(nodeNs: string): Promise<void>;
  /** The node's rules, for a report of a difference. */
  rules(nodeNs: string): Promise<string>;
  /** Pause after a sync's marker answers, for a mode whose sync goes on after it (IPVS). */
  readonly settleMs?: number;
  /** Silence longer than this is a DROP (default 1500 ms); a mode run on a slower CPU needs more. */
  readonly dropTimeoutMs?: number;
  /**
   * What CI runs, where the default (one seed per family, three rounds, the regression plans) does
   * not fit its time: a guest's one slow CPU makes an IPVS seed cost minutes.
   */
  readonly ci?: { families: readonly FamilyChoice[]; rounds: number; regressions: boolean };
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

/**
 * IPVS mode, in a UML guest only (test/uml/: this kernel has no IPVS). The iptables side is the
 * legacy variant there; both launchers find it first on the guest's PATH (kube-proxy-ts by the hint
 * chain its launcher plants).
 */
export const IPVS_MODE: ModeDescription = {
  name: 'ipvs',
  upstream: (bins) => upstreamLauncher(bins, 'ipvs'),
  ours: () => kubeProxyTsLauncher([], { mode: 'ipvs' }),
  rules: async (nodeNs) =>
    (await inNs(nodeNs, 'iptables-legacy-save', [])) +
    (await inNs(nodeNs, 'ip6tables-legacy-save', [])) +
    (await inNs(nodeNs, 'ipvsadm', ['-Ln'])),
  // Upstream changes IPVS before its ipsets and rules: the marker can answer mid-sync.
  settleMs: 10_000,
  // The guest's one emulated CPU answers a round's thousands of concurrent probes slowly: at 1.5 s,
  // whole batches of a large seed came back as DROP or connected-but-silent under either proxy, in
  // different flows from one run of the seed to the next. Silence costs this once per batch.
  dropTimeoutMs: 4000,
  // Dual-stack covers both families; two rounds keep one round of changes (partial syncs).
  ci: { families: ['dual'], rounds: 2, regressions: false },
};

/** The modes this kernel runs (`all`); IPVS_MODE runs by name, in the guest. */
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
  const all = [...MODES, IPVS_MODE];
  const m = all.find((x) => x.name === name);
  if (!m) throw new Error(`--mode ${name}: want one of ${all.map((x) => x.name).join(', ')}`);
  return m;
}
