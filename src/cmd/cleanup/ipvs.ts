// Removing what upstream's ipvs mode leaves: the kube-ipvs0 dummy interface with its IPVS virtual
// servers, and the KUBE-* ipsets (after the iptables rules that use them are gone). IPVS is
// flushed only where kube-ipvs0 exists, so that a node's other IPVS users are not touched.

import { DUMMY_DEVICE, SETS, setName } from '../../backends/ipvs/names.ts';
import { hasCode } from '../../errors.ts';
import type { Execer } from '../../kernel/exec.ts';
import { IpvsNetlink } from '../../kernel/ipvs/netlink.ts';
import type { Ipvs } from '../../kernel/ipvs/types.ts';
import type { Logger } from '../../log/logger.ts';

export { DUMMY_DEVICE };

/** upstream pkg/proxy/ipvs/ipset.go ipsetInfo names. */
export const IPSETS: readonly string[] = SETS.map((s) => s.name);

const OWNED_SETS = new Set(SETS.flatMap((s) => [setName(s.name, 'IPv4'), setName(s.name, 'IPv6')]));

export function isOwnedSet(name: string): boolean {
  return OWNED_SETS.has(name);
}

async function tryRun(exec: Execer, cmd: string, args: string[]) {
  try {
    return await exec.run(cmd, args);
  } catch (err) {
    if (hasCode(err, 'KP_ERR_EXEC')) return undefined; // not installed
    throw err;
  }
}

/** IPVS through netlink, as the proxy talks to it (tests give a fake). */
export type OpenIpvs = () => Promise<Ipvs>;

export async function cleanupIPVS(
  exec: Execer,
  log: Logger,
  openIpvs: OpenIpvs = () => IpvsNetlink.open(),
): Promise<boolean> {
  let failed = false;
  const link = await tryRun(exec, 'ip', ['link', 'show', DUMMY_DEVICE]);
  if (link && link.code === 0) {
    try {
      const ipvs = await openIpvs();
      try {
        await ipvs.flush();
      } finally {
        ipvs.close();
      }
    } catch (err) {
      // As upstream (it checks `modprobe ip_vs` first): a kernel without IPVS has nothing to flush.
      if (hasCode(err, 'KP_ERR_IPVS_UNAVAILABLE')) log.v(2, 'No IPVS in this kernel; nothing to flush');
      else {
        failed = true;
        log.error('Error flushing ipvs rules', { err: (err as Error).message });
      }
    }
    const del = await tryRun(exec, 'ip', ['link', 'del', DUMMY_DEVICE]);
    if (del?.code !== 0) {
      failed = true;
      log.error('Error deleting dummy device created by ipvs proxier', { device: DUMMY_DEVICE });
    } else log.info('Deleted the IPVS dummy interface', { device: DUMMY_DEVICE });
  }
  return failed;
}

export async function cleanupIPSets(exec: Execer, log: Logger): Promise<boolean> {
  const list = await tryRun(exec, 'ipset', ['list', '-n']);
  if (list === undefined) {
    log.v(2, 'ipset is not installed; nothing to clean up');
    return false;
  }
  if (list.code !== 0) return false; // no ip_set module: there can be no sets
  let failed = false;
  for (const name of list.stdout.split('\n').map((s) => s.trim())) {
    if (!isOwnedSet(name)) continue;
    const r = await exec.run('ipset', ['destroy', name]);
    if (r.code !== 0) {
      failed = true;
      log.error('Error removing ipset', { ipset: name, stderr: r.stderr.trim() });
    } else log.info('Removed ipset', { ipset: name });
  }
  return failed;
}
