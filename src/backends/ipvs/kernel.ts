// Opening what IPVS mode drives in the node's kernel: one IPVS netlink client per family, ipset
// and iproute2 through their tools; and the start-up work upstream does in NewProxier (sysctls,
// IPVS timeouts).
import { release } from 'node:os';
import type { ProxyConfig } from '../../config/types.ts';
import type { Execer } from '../../kernel/exec.ts';
import { type IpSets, IpsetCli } from '../../kernel/ipset/ipset.ts';
import { IpvsNetlink } from '../../kernel/ipvs/netlink.ts';
import type { Ipvs } from '../../kernel/ipvs/types.ts';
import { IpRouteCli, type NodeLinks } from '../../kernel/links.ts';
import type { Logger } from '../../log/logger.ts';
import { RootedFs } from '../../sysctl/fs.ts';
import type { IPFamily } from '../../util/ip.ts';
import { applyIpvsSysctls } from './sysctls.ts';

export const IPVS_DEPRECATION =
  "The ipvs proxier has been deprecated and will be disabled by default in Kubernetes 1.40 and removed in Kubernetes 1.43. Migrate to the 'nftables' proxier instead.";

export interface IpvsKernel {
  ipvs(family: IPFamily): Ipvs;
  readonly ipsets: IpSets;
  readonly links: NodeLinks;
}

/**
 * Refuses IPVS mode on a kernel without IPVS before anything is changed (the cleanup of other
 * modes' rules included), with the reason. Loads ip_vs first (modprobe), as upstream's libipvs does.
 */
export async function requireIpvs(exec: Execer): Promise<void> {
  await exec.run('modprobe', ['-va', 'ip_vs']).catch(() => undefined);
  (await IpvsNetlink.open()).close();
}

/** After requireIpvs(), which loaded the module: the sysctls, the timeouts and one client per family. */
export async function openIpvsKernel(
  opts: { readonly config: Pick<ProxyConfig, 'ipvs'> },
  exec: Execer,
  fams: readonly IPFamily[],
  log: Logger,
): Promise<IpvsKernel> {
  applyIpvsSysctls({ strictARP: opts.config.ipvs.strictARP, kernelRelease: release() }, new RootedFs(), log);
  const clients = new Map<IPFamily, Ipvs>();
  for (const f of fams) clients.set(f, await IpvsNetlink.open());
  const t = opts.config.ipvs;
  if (t.tcpTimeoutMs > 0 || t.tcpFinTimeoutMs > 0 || t.udpTimeoutMs > 0) {
    const seconds = (ms: number) => Math.floor(ms / 1000);
    await clients
      .get(fams[0]!)
      ?.configureTimeouts({
        tcp: seconds(t.tcpTimeoutMs),
        tcpFin: seconds(t.tcpFinTimeoutMs),
        udp: seconds(t.udpTimeoutMs),
      })
      .catch((err: unknown) => log.error('Failed to configure IPVS timeouts', { err }));
  }
  return { ipvs: (f) => clients.get(f)!, ipsets: new IpsetCli(exec), links: new IpRouteCli(exec) };
}
