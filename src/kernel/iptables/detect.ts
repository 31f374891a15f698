// Which iptables variant the node uses, decided as upstream's kube-proxy image does (its
// iptables-wrapper): the one holding kubelet's chains in the mangle table; failing that, the one
// holding more rules; failing that, nft. Mixing variants in one namespace does not work, so the
// proxy must use the variant the rest of the node (kubelet, CNI) already uses.
import type { Execer } from '../exec.ts';
import { type IptablesVariant, iptablesBinaries } from './iptables.ts';

export interface VariantDetection {
  readonly variant: IptablesVariant;
  /** Why, for the start-up log. */
  readonly reason: string;
}

/** kubelet creates KUBE-IPTABLES-HINT (and its canary) in mangle in whichever variant it uses. */
const KUBELET_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)\s/m;

const DETECT_TIMEOUT_MS = 10_000;

/** Output of an -save command, or '' when it is missing or fails: every probe is best effort. */
async function saveOutput(exec: Execer, command: string, args: readonly string[]): Promise<string> {
  try {
    const r = await exec.run(command, args, { timeoutMs: DETECT_TIMEOUT_MS });
    return r.code === 0 ? r.stdout : '';
  } catch {
    return '';
  }
}

function countRules(save: string): number {
  let n = 0;
  for (const line of save.split('\n')) if (line.startsWith('-')) n++;
  return n;
}

export async function detectIptablesVariant(exec: Execer): Promise<VariantDetection> {
  const save = (family: 'IPv4' | 'IPv6', variant: IptablesVariant) => iptablesBinaries(family, variant).save;

  for (const family of ['IPv4', 'IPv6'] as const) {
    if (KUBELET_CHAINS.test(await saveOutput(exec, save(family, 'nft'), ['-t', 'mangle']))) {
      return { variant: 'nft', reason: `kubelet's KUBE-IPTABLES-HINT chain is in ${save(family, 'nft')}` };
    }
  }
  // Not `-t mangle` for legacy: naming a table makes the legacy kernel module create it.
  const legacy: string[] = [];
  for (const family of ['IPv4', 'IPv6'] as const) {
    const out = await saveOutput(exec, save(family, 'legacy'), []);
    if (KUBELET_CHAINS.test(out)) {
      return {
        variant: 'legacy',
        reason: `kubelet's KUBE-IPTABLES-HINT chain is in ${save(family, 'legacy')}`,
      };
    }
    legacy.push(out);
  }
  const legacyRules = legacy.reduce((n, out) => n + countRules(out), 0);
  let nftRules = 0;
  for (const family of ['IPv4', 'IPv6'] as const)
    nftRules += countRules(await saveOutput(exec, save(family, 'nft'), []));
  if (legacyRules > nftRules) {
    return {
      variant: 'legacy',
      reason: `no kubelet hint; iptables-legacy holds more rules (${legacyRules} > ${nftRules})`,
    };
  }
  return {
    variant: 'nft',
    reason:
      legacyRules + nftRules === 0
        ? 'no kubelet hint and no rules in either variant: defaulting to nft'
        : `no kubelet hint; iptables-nft holds at least as many rules (${nftRules} >= ${legacyRules})`,
  };
}
