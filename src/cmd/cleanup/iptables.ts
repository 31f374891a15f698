// Removing the iptables state of upstream's iptables and ipvs modes (iptables.CleanupLeftovers and
// ipvs cleanupIptablesLeftovers): every rule elsewhere that jumps to one of our chains is deleted,
// then our chains are flushed and deleted, in one `iptables-restore --noflush` per table. Chains that
// kubelet owns (KUBE-FIREWALL, KUBE-KUBELET-CANARY, KUBE-MARK-DROP) are left alone.

import { hasCode } from '../../errors.ts';
import type { Execer } from '../../kernel/exec.ts';
import { detectIptablesVariant } from '../../kernel/iptables/detect.ts';
import type { Logger } from '../../log/logger.ts';

const OWNED = new Set([
  'KUBE-SERVICES',
  'KUBE-EXTERNAL-SERVICES',
  'KUBE-NODEPORTS',
  'KUBE-NODE-PORT',
  'KUBE-POSTROUTING',
  'KUBE-MARK-MASQ',
  'KUBE-FORWARD',
  'KUBE-PROXY-FIREWALL',
  'KUBE-PROXY-CANARY',
  'KUBE-LOAD-BALANCER',
  'KUBE-SOURCE-RANGES-FIREWALL',
  'KUBE-IPVS-FILTER',
  'KUBE-IPVS-OUT-FILTER',
]);
const OWNED_PREFIX = /^KUBE-(SVC|SVL|EXT|FW|SEP|XLB)-[A-Z0-9]+$/;

export const TABLES = ['nat', 'filter', 'mangle'] as const;
export const BINARIES = ['iptables', 'ip6tables'] as const;

export function isOwnedChain(name: string): boolean {
  return OWNED.has(name) || OWNED_PREFIX.test(name);
}

/** The iptables-restore input that removes our chains from one table's iptables-save output, or undefined. */
export function cleanupScript(save: string, table: string): string | undefined {
  const chains: string[] = [];
  const deletes: string[] = [];
  let inTable = false;
  for (const line of save.split('\n')) {
    if (line.startsWith('*')) inTable = line.slice(1).trim() === table;
    if (!inTable) continue;
    const decl = /^:(\S+)/.exec(line);
    if (decl && isOwnedChain(decl[1]!)) chains.push(decl[1]!);
    const rule = /^-A (\S+) (.*)$/.exec(line);
    if (rule && !isOwnedChain(rule[1]!)) {
      const target = / -[jg] (\S+)/.exec(` ${rule[2]}`)?.[1];
      if (target !== undefined && isOwnedChain(target)) deletes.push(`-D ${rule[1]} ${rule[2]}`);
    }
  }
  if (chains.length === 0 && deletes.length === 0) return undefined;
  return [
    `*${table}`,
    ...chains.map((c) => `:${c} - [0:0]`),
    ...deletes,
    ...chains.map((c) => `-X ${c}`),
    'COMMIT',
    '',
  ].join('\n');
}

/** Returns true if an error was encountered (errors are logged), as upstream's CleanupLeftovers. */
export async function cleanupIptables(exec: Execer, log: Logger): Promise<boolean> {
  let failed = false;
  // The variant the node uses, as iptables mode picks it: upstream's image wrapper cleans only that
  // one too, and touching the other (iptables-legacy -t ...) would create its tables.
  const { variant } = await detectIptablesVariant(exec);
  for (const bin of BINARIES.map((b) => `${b}-${variant}`)) {
    for (const table of TABLES) {
      let save: string;
      try {
        const r = await exec.run(`${bin}-save`, ['-t', table]);
        if (r.code !== 0) {
          log.v(4, 'No iptables table to clean up', { binary: bin, table, stderr: r.stderr.trim() });
          continue;
        }
        save = r.stdout;
      } catch (err) {
        if (hasCode(err, 'KP_ERR_EXEC')) {
          log.v(2, 'iptables is not installed; nothing to clean up', { binary: `${bin}-save` });
          break;
        }
        failed = true;
        log.error('Failed to execute iptables-save', { binary: bin, table, err });
        continue;
      }
      const script = cleanupScript(save, table);
      if (script === undefined) continue;
      const r = await exec
        .run(`${bin}-restore`, ['-w', '5', '--noflush'], { stdin: script })
        .catch((err: unknown) => ({
          code: -1,
          stdout: '',
          stderr: String(err),
        }));
      if (r.code !== 0) {
        failed = true;
        log.error('Failed to execute iptables-restore', { binary: bin, table, stderr: r.stderr.trim() });
      } else log.info('Removed iptables rules and chains', { binary: bin, table });
    }
  }
  return failed;
}
