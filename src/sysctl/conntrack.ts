// Conntrack sysctls at start (upstream cmd/kube-proxy/app/server_linux.go setupConntrack and
// conntrack.go): nf_conntrack_max = max(maxPerCore × CPUs, min) unless maxPerCore is 0, the
// hashsize raised to max/4 when smaller (only if /sys is mounted read-write), the TCP established and
// close-wait timeouts, tcp_be_liberal, and the UDP timeouts when > 0. A sysctl is written only when
// its value differs. Unlike upstream, a refused write is logged and start-up goes on: inside a
// network namespace the global nf_conntrack_max and hashsize are read-only.

import { cpus } from 'node:os';
import type { ConntrackConfig } from '../config/types.ts';
import type { Logger } from '../log/logger.ts';
import type { SysFs } from './fs.ts';

export const NETFILTER = '/proc/sys/net/netfilter';
export const HASHSIZE = '/sys/module/nf_conntrack/parameters/hashsize';

export interface SysctlResult {
  readonly written: readonly string[];
  readonly failed: readonly string[];
}

/** getConntrackMax: 0 means leave nf_conntrack_max alone. */
export function conntrackMax(c: ConntrackConfig, numCPU: number): number {
  if (c.maxPerCore === undefined || c.maxPerCore <= 0) return 0;
  const floor = c.min ?? 0;
  const scaled = c.maxPerCore * numCPU;
  return Math.max(scaled, floor);
}

/** Whether /sys is mounted read-write, from /proc/mounts (upstream isSysFSWritable). */
export function sysfsWritable(fs: SysFs): boolean {
  const mounts = fs.read('/proc/mounts') ?? '';
  for (const line of mounts.split('\n')) {
    const [, , type, opts] = line.split(' ');
    if (type === 'sysfs') return (opts ?? '').split(',')[0] === 'rw';
  }
  return false;
}

export interface ConntrackSetupDeps {
  readonly fs: SysFs;
  readonly logger: Logger;
  readonly numCPU?: number;
}

export function setupConntrack(c: ConntrackConfig, deps: ConntrackSetupDeps): SysctlResult {
  const { fs, logger: log } = deps;
  const written: string[] = [];
  const failed: string[] = [];
  const set = (path: string, value: number): boolean => {
    const current = fs.read(path);
    if (current !== undefined && Number(current) === value) return true;
    log.info('Set sysctl', { entry: path.replace('/proc/sys/', ''), value });
    try {
      fs.write(path, String(value));
      written.push(path);
      return true;
    } catch (err) {
      failed.push(path);
      log.error('Failed to set sysctl; continuing', { entry: path, value, err });
      return false;
    }
  };
  const max = conntrackMax(c, deps.numCPU ?? Math.max(1, cpus().length));
  if (max > 0 && set(`${NETFILTER}/nf_conntrack_max`, max)) {
    log.info('Setting nf_conntrack_max', { nfConntrackMax: max });
    const hashsize = Number(fs.read(HASHSIZE) ?? Number.NaN);
    if (!(hashsize >= Math.floor(max / 4))) {
      if (!sysfsWritable(fs)) {
        failed.push(HASHSIZE);
        log.error(
          'CRI error: /sys is read-only: cannot modify conntrack limits, problems may arise later',
          {},
        );
      } else {
        log.info('Setting conntrack hashsize', { conntrackHashsize: Math.floor(max / 4) });
        set(HASHSIZE, Math.floor(max / 4));
      }
    }
  }
  const seconds = (ms: number | undefined) => Math.floor((ms ?? 0) / 1000);
  if ((c.tcpEstablishedTimeoutMs ?? 0) > 0)
    set(`${NETFILTER}/nf_conntrack_tcp_timeout_established`, seconds(c.tcpEstablishedTimeoutMs));
  if ((c.tcpCloseWaitTimeoutMs ?? 0) > 0)
    set(`${NETFILTER}/nf_conntrack_tcp_timeout_close_wait`, seconds(c.tcpCloseWaitTimeoutMs));
  if (c.tcpBeLiberal) set(`${NETFILTER}/nf_conntrack_tcp_be_liberal`, 1);
  if (c.udpTimeoutMs > 0) set(`${NETFILTER}/nf_conntrack_udp_timeout`, seconds(c.udpTimeoutMs));
  if (c.udpStreamTimeoutMs > 0)
    set(`${NETFILTER}/nf_conntrack_udp_timeout_stream`, seconds(c.udpStreamTimeoutMs));
  return { written, failed };
}
