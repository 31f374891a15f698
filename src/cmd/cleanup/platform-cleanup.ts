// platformCleanup (cmd/kube-proxy/app/server_linux.go): with --cleanup, everything any mode
// creates; at a normal start, only what the configured mode does not use (nftables mode removes
// iptables and ipvs leftovers; iptables and ipvs modes remove the nftables tables).

import { TABLE } from '../../backends/nftables/names.ts';
import type { Execer } from '../../kernel/exec.ts';
import type { Nftables } from '../../kernel/nft/nftables.ts';
import { Transaction } from '../../kernel/nft/transaction.ts';
import type { Logger } from '../../log/logger.ts';
import { cleanupIptables } from './iptables.ts';
import { cleanupIPSets, cleanupIPVS, type OpenIpvs } from './ipvs.ts';

export interface CleanupDeps {
  readonly exec: Execer;
  readonly nft: Nftables;
  readonly log: Logger;
  /** IPVS for its flush (default: the netlink client). */
  readonly openIpvs?: OpenIpvs;
}

export async function cleanupNftables(nft: Nftables, log: Logger): Promise<boolean> {
  let failed = false;
  for (const family of ['ip', 'ip6'] as const) {
    try {
      if (await nft.hasTable(family, TABLE)) {
        await nft.run(new Transaction(family, TABLE).delete({ kind: 'table' }));
        log.info('Deleted nftables table', { family, table: TABLE });
      }
    } catch (err) {
      failed = true;
      log.error('Error cleaning up nftables rules', { family, err });
    }
  }
  return failed;
}

function iptablesBased(mode: string): boolean {
  return mode === 'iptables' || mode === 'ipvs';
}

/** Returns true if an error was encountered; errors are logged. */
export async function platformCleanup(
  deps: CleanupDeps,
  mode: string,
  cleanupAndExit: boolean,
): Promise<boolean> {
  let failed = false;
  if (!iptablesBased(mode) || cleanupAndExit) {
    failed = (await cleanupIPVS(deps.exec, deps.log, deps.openIpvs)) || failed;
    failed = (await cleanupIptables(deps.exec, deps.log)) || failed;
    // ipsets can only be destroyed once no iptables rule refers to them.
    failed = (await cleanupIPSets(deps.exec, deps.log)) || failed;
  }
  if (iptablesBased(mode) || cleanupAndExit) failed = (await cleanupNftables(deps.nft, deps.log)) || failed;
  return failed;
}
