// The kernel settings IPVS mode needs (upstream NewProxier): IPVS connection tracking so that the
// masquerade rules see IPVS flows, expiry of flows to removed real servers, forwarding, and with
// --ipvs-strict-arp no ARP answers for the service addresses on kube-ipvs0.
import type { Logger } from '../../log/logger.ts';
import type { SysFs } from '../../sysctl/fs.ts';

export interface IpvsSysctlOptions {
  readonly strictARP: boolean;
  /** os.release(), e.g. "6.1.0-28-amd64". */
  readonly kernelRelease: string;
}

function kernelAtLeast(release: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return true;
  const [maj, min] = [Number(m[1]), Number(m[2])];
  return maj > major || (maj === major && min >= minor);
}

/** The sysctls to set, in upstream's order: [path under /proc/sys, value]. */
export function ipvsSysctls(o: IpvsSysctlOptions, log: Logger): [string, number][] {
  const out: [string, number][] = [['net/ipv4/vs/conntrack', 1]];
  if (!kernelAtLeast(o.kernelRelease, 4, 1))
    log.error("Can't set sysctl, kernel version doesn't satisfy minimum version requirements", {
      sysctl: 'net/ipv4/vs/conn_reuse_mode',
      minimumKernelVersion: '4.1',
    });
  // Kernels from 5.9 fixed connection reuse (kubernetes#93297): left as it is there.
  else if (kernelAtLeast(o.kernelRelease, 5, 9))
    log.v(2, 'Left as-is', { sysctl: 'net/ipv4/vs/conn_reuse_mode' });
  else out.push(['net/ipv4/vs/conn_reuse_mode', 0]);
  out.push(
    ['net/ipv4/vs/expire_nodest_conn', 1],
    ['net/ipv4/vs/expire_quiescent_template', 1],
    ['net/ipv4/ip_forward', 1],
  );
  if (o.strictARP) out.push(['net/ipv4/conf/all/arp_ignore', 1], ['net/ipv4/conf/all/arp_announce', 2]);
  return out;
}

/** Sets each sysctl that differs (upstream EnsureSysctl); a failure stops the start, as upstream's. */
export function applyIpvsSysctls(o: IpvsSysctlOptions, fs: SysFs, log: Logger): void {
  for (const [name, value] of ipvsSysctls(o, log)) {
    const path = `/proc/sys/${name}`;
    if (fs.read(path)?.trim() === String(value)) continue;
    fs.write(path, String(value));
    log.info('Set sysctl', { entry: name, value });
  }
}
