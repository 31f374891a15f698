// Removing what upstream's ipvs mode leaves: the kube-ipvs0 dummy interface with its IPVS virtual
// servers, and the KUBE-* ipsets (after the iptables rules that use them are gone). IPVS is
// flushed only where kube-ipvs0 exists, so that a node's other IPVS users are not touched.

import { hasCode } from '../../errors.ts';
import type { Execer } from '../../kernel/exec.ts';
import type { Logger } from '../../log/logger.ts';

export const DUMMY_DEVICE = 'kube-ipvs0';

/** upstream pkg/proxy/ipvs/ipset.go ipsetInfo names. */
export const IPSETS = [
  'KUBE-LOOP-BACK',
  'KUBE-CLUSTER-IP',
  'KUBE-EXTERNAL-IP',
  'KUBE-EXTERNAL-IP-LOCAL',
  'KUBE-LOAD-BALANCER',
  'KUBE-LOAD-BALANCER-FW',
  'KUBE-LOAD-BALANCER-LOCAL',
  'KUBE-LOAD-BALANCER-SOURCE-IP',
  'KUBE-LOAD-BALANCER-SOURCE-CIDR',
  'KUBE-NODE-PORT-TCP',
  'KUBE-NODE-PORT-LOCAL-TCP',
  'KUBE-NODE-PORT-UDP',
  'KUBE-NODE-PORT-LOCAL-UDP',
  'KUBE-NODE-PORT-SCTP-HASH',
  'KUBE-NODE-PORT-LOCAL-SCTP-HASH',
  'KUBE-HEALTH-CHECK-NODE-PORT',
  'KUBE-IPVS-IPS',
];

/** The IPv6 name of a set: "KUBE-" becomes "KUBE-6-", cut to ipset's 31 characters. */
export function ipv6SetName(name: string): string {
  return name.replace(/^KUBE-/, 'KUBE-6-').slice(0, 31);
}

const OWNED_SETS = new Set([...IPSETS, ...IPSETS.map(ipv6SetName)]);

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

export async function cleanupIPVS(exec: Execer, log: Logger): Promise<boolean> {
  let failed = false;
  const link = await tryRun(exec, 'ip', ['link', 'show', DUMMY_DEVICE]);
  if (link && link.code === 0) {
    const flush = await tryRun(exec, 'ipvsadm', ['-C']);
    if (flush === undefined) log.info('ipvsadm is not installed; IPVS virtual servers left in place');
    else if (flush.code !== 0) {
      failed = true;
      log.error('Error flushing ipvs rules', { stderr: flush.stderr.trim() });
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
