// iptables-nft-restore (1.8.9, as Debian ships it) takes time that grows much faster than the size
// of its input: measured here, one restore of 2,000 services x 10 endpoints took 21.8 s while the
// same rules in parts of 2,500-5,000 rules took 2.3-2.5 s, and 4,000 services took 130 s in one.
// Upstream sends a full sync as one input. The backend sends the per-service chains of one group
// of services at a time (serviceChainsOnly), then one last restore with the fixed chains
// (KUBE-SERVICES, …) and the stale-chain deletions. At every step the kernel is consistent: a
// service's chains are replaced whole together, and nothing reaches a new chain before the last
// restore writes the fixed chains that point to it.
import { isServiceChainName, KUBE_MARK_MASQ } from './names.ts';

/** The chain a `:NAME POLICY [p:b]` line declares. */
export function declaredChain(line: string): string {
  return line.slice(1, line.indexOf(' '));
}

/** The chain a `-A NAME …` line appends to. */
export function ruleChain(line: string): string {
  return line.slice(3, line.indexOf(' ', 3));
}

/**
 * Only the per-service chains of a restore input, as one nat restore: what a pass over a group of
 * services sends before the fixed chains (see IptablesBackend). Undefined when there are none.
 */
export function serviceChainsOnly(lines: readonly string[]): string | undefined {
  const decls: string[] = [];
  const rules: string[] = [];
  const markMasq: string[] = [];
  let nat = false;
  for (const l of lines) {
    if (l.startsWith('*')) nat = l === '*nat';
    else if (!nat) continue;
    else if (l.startsWith(':')) {
      if (isServiceChainName(declaredChain(l))) decls.push(l);
    } else if (l.startsWith('-A ')) {
      const chain = ruleChain(l);
      if (isServiceChainName(chain)) rules.push(l);
      else if (chain === KUBE_MARK_MASQ) markMasq.push(l);
    }
  }
  if (decls.length === 0) return undefined;
  // Endpoint chains jump to KUBE-MARK-MASQ, which must exist (on a fresh node it does not yet);
  // declaring it again with its one static rule replaces it with itself.
  const out = ['*nat', `:${KUBE_MARK_MASQ} - [0:0]`];
  for (const l of decls) out.push(l);
  for (const l of markMasq) out.push(l);
  for (const l of rules) out.push(l);
  out.push('COMMIT');
  return joinLines(out);
}

/** Lines as restore input: newline-terminated, without the empty last entry a split leaves. */
export function joinLines(lines: readonly string[]): string {
  const n = lines.length > 0 && lines[lines.length - 1] === '' ? lines.length - 1 : lines.length;
  return `${lines.slice(0, n).join('\n')}\n`;
}
