// Upstream's validation (pkg/proxy/apis/config/validation) with its messages, reported under the
// v1alpha1 field names: `KubeProxyConfiguration.iptables.masqueradeBit: Invalid value: 40: must be
// within the range [0, 31]`. Each error carries the v1alpha1 path so callers can add file lines.

import { formatDuration } from '../util/duration.ts';
import { parseCIDR } from '../util/ip.ts';
import { isIPLiteral, splitHostPort } from './addresses.ts';
import type { ProxyConfig } from './types.ts';

export interface FieldError {
  /** v1alpha1 path below KubeProxyConfiguration ("iptables.masqueradeBit", "nodePortAddresses[1]"). */
  readonly path: string;
  readonly message: string;
}

/** The Kubernetes version whose previous minor --show-hidden-metrics-for-version may name. */
export const UPSTREAM_MINOR = 35;

type Bad = string | number | { duration: number } | readonly string[];

function show(v: Bad): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return `[]string{${v.map((s) => JSON.stringify(s)).join(', ')}}`;
  return formatDuration((v as { duration: number }).duration);
}

function invalid(path: string, value: Bad, detail: string): FieldError {
  return { path, message: `KubeProxyConfiguration.${path}: Invalid value: ${show(value)}: ${detail}` };
}

function notSupported(path: string, value: string, supported: string[]): FieldError {
  const list = supported.map((s) => JSON.stringify(s)).join(', ');
  return {
    path,
    message: `KubeProxyConfiguration.${path}: Unsupported value: ${JSON.stringify(value)}: supported values: ${list}`,
  };
}

const GE0 = 'must be greater than or equal to 0';

function hostPort(input: string, path: string): FieldError[] {
  const hp = splitHostPort(input);
  if (!hp) return [invalid(path, input, 'must be IP:port')];
  const errs: FieldError[] = [];
  if (!isIPLiteral(hp.host)) errs.push(invalid(path, hp.host, 'must be a valid IP'));
  const p = /^[-+]?[0-9]+$/.test(hp.port) ? Number(hp.port) : Number.NaN;
  if (!(p >= 1 && p <= 65535)) errs.push(invalid(path, hp.port, 'must be a valid port'));
  return errs;
}

function validPortRange(s: string): boolean {
  const v = s.trim();
  if (v === '') return true;
  const m = /^([0-9]+)(?:([-+])([0-9]+))?$/.exec(v);
  if (!m) return false;
  const base = Number(m[1]);
  const other = m[3] === undefined ? undefined : Number(m[3]);
  if (base > 65535) return false;
  if (m[2] === '-') return other !== undefined && other >= base && other <= 65535;
  if (m[2] === '+') return other !== undefined && base + other <= 65536;
  return true;
}

function dualStackCIDRs(cidrs: readonly string[], path: string): FieldError[] {
  const pairMsg =
    'must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]';
  if (cidrs.length === 0) return [invalid(path, cidrs, 'must contain at least one CIDR')];
  if (cidrs.length > 2) return [invalid(path, cidrs, pairMsg)];
  const errs: FieldError[] = [];
  const parsed = cidrs.map((c) => parseCIDR(c));
  parsed.forEach((p, i) => {
    if (!p)
      errs.push(
        invalid(
          `${path}[${i}]`,
          cidrs[i]!,
          'must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)',
        ),
      );
  });
  if (parsed.length === 2 && parsed[0] && parsed[1] && parsed[0].family === parsed[1].family)
    errs.push(invalid(path, cidrs, pairMsg));
  return errs;
}

/** The v1alpha1 section the internal sync periods and masqueradeAll came from, by mode. */
export function modeSection(mode: string): 'ipvs' | 'nftables' | 'iptables' {
  return mode === 'ipvs' ? 'ipvs' : mode === 'nftables' ? 'nftables' : 'iptables';
}

export function validateConfig(c: ProxyConfig): FieldError[] {
  const errs: FieldError[] = [];
  const bit = (path: string, v: number | undefined) => {
    if (v !== undefined && (v < 0 || v > 31)) errs.push(invalid(path, v, 'must be within the range [0, 31]'));
  };
  bit('iptables.masqueradeBit', c.iptables.masqueradeBit);
  if (c.mode === 'ipvs') {
    for (const [k, v] of [
      ['tcpTimeout', c.ipvs.tcpTimeoutMs],
      ['tcpFinTimeout', c.ipvs.tcpFinTimeoutMs],
      ['udpTimeout', c.ipvs.udpTimeoutMs],
    ] as const)
      if (v < 0) errs.push(invalid(`ipvs.${k}`, { duration: v }, GE0));
    c.ipvs.excludeCIDRs.forEach((cidr, i) => {
      if (!parseCIDR(cidr)) errs.push(invalid(`ipvs.excludeCIDRs[${i}]`, cidr, 'must be a valid CIDR'));
    });
  }
  if (c.mode === 'nftables') bit('nftables.masqueradeBit', c.nftables.masqueradeBit);
  const ct = c.linux.conntrack;
  if (ct.maxPerCore !== undefined && ct.maxPerCore < 0)
    errs.push(invalid('conntrack.maxPerCore', ct.maxPerCore, GE0));
  if (ct.min !== undefined && ct.min < 0) errs.push(invalid('conntrack.min', ct.min, GE0));
  for (const [k, v] of [
    ['tcpEstablishedTimeout', ct.tcpEstablishedTimeoutMs],
    ['tcpCloseWaitTimeout', ct.tcpCloseWaitTimeoutMs],
    ['udpTimeout', ct.udpTimeoutMs],
    ['udpStreamTimeout', ct.udpStreamTimeoutMs],
  ] as const)
    if (v !== undefined && v < 0) errs.push(invalid(`conntrack.${k}`, { duration: v }, GE0));
  const oom = c.linux.oomScoreAdj;
  if (oom !== undefined && (oom < -1000 || oom > 1000))
    errs.push(invalid('oomScoreAdj', oom, 'must be within the range [-1000, 1000]'));
  // kernelspace is Windows-only upstream; kube-proxy-ts accepts it everywhere (--kernelspace-hns).
  if (!['', 'iptables', 'ipvs', 'nftables', 'kernelspace'].includes(c.mode))
    errs.push(
      invalid(
        'mode',
        c.mode,
        'must be iptables, ipvs, nftables or blank (blank means the best-available proxy [currently iptables])',
      ),
    );
  if (c.clientConnection.burst < 0)
    errs.push(invalid('clientConnection.burst', c.clientConnection.burst, GE0));
  if (c.configSyncPeriodMs <= 0)
    errs.push(invalid('configSyncPeriod', { duration: c.configSyncPeriodMs }, 'must be greater than 0'));
  const sec = modeSection(c.mode);
  if (c.syncPeriodMs <= 0)
    errs.push(invalid(`${sec}.syncPeriod`, { duration: c.syncPeriodMs }, 'must be greater than 0'));
  if (c.minSyncPeriodMs < 0) errs.push(invalid(`${sec}.minSyncPeriod`, { duration: c.minSyncPeriodMs }, GE0));
  if (c.minSyncPeriodMs > c.syncPeriodMs)
    errs.push(
      invalid(
        `${sec}.syncPeriod`,
        { duration: c.minSyncPeriodMs },
        `must be greater than or equal to KubeProxyConfiguration.${sec}.minSyncPeriod`,
      ),
    );
  if (!isIPLiteral(c.bindAddress))
    errs.push(invalid('bindAddress', c.bindAddress, 'not a valid textual representation of an IP address'));
  if (c.healthzBindAddress !== '') errs.push(...hostPort(c.healthzBindAddress, 'healthzBindAddress'));
  if (c.metricsBindAddress !== '') errs.push(...hostPort(c.metricsBindAddress, 'metricsBindAddress'));
  if (!validPortRange(c.portRange))
    errs.push(invalid('portRange', c.portRange, 'must be a valid port range (e.g. 300-2000)'));
  for (const [i, a] of c.nodePortAddresses.entries()) {
    if (a === 'primary') {
      if (i !== 0 || c.nodePortAddresses.length !== 1)
        errs.push(invalid(`nodePortAddresses[${i}]`, a, "can't use both 'primary' and CIDRs"));
      break;
    }
    if (!parseCIDR(a)) errs.push(invalid(`nodePortAddresses[${i}]`, a, 'must be a valid CIDR'));
  }
  const hidden = c.showHiddenMetricsForVersion;
  if (hidden !== '' && hidden !== `1.${UPSTREAM_MINOR - 1}`)
    errs.push(
      invalid(
        'showHiddenMetricsForVersion',
        hidden,
        `--show-hidden-metrics-for-version must be omitted or have the value '1.${UPSTREAM_MINOR - 1}'. Only the previous minor version is allowed`,
      ),
    );
  const modes = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix', ''];
  if (!modes.includes(c.detectLocalMode))
    errs.push(notSupported('detectLocalMode', c.detectLocalMode, modes));
  if (c.detectLocalMode === 'BridgeInterface' && c.detectLocal.bridgeInterface === '')
    errs.push(invalid('detectLocal.bridgeInterface', '', 'must not be empty'));
  if (c.detectLocalMode === 'InterfaceNamePrefix' && c.detectLocal.interfaceNamePrefix === '')
    errs.push(invalid('detectLocal.interfaceNamePrefix', '', 'must not be empty'));
  if (c.detectLocalMode === 'ClusterCIDR' && c.detectLocal.clusterCIDRs.length > 0)
    errs.push(...dualStackCIDRs(c.detectLocal.clusterCIDRs, 'clusterCIDR'));
  if (!['text', 'json'].includes(c.logging.format))
    errs.push(invalid('logging.format', c.logging.format, 'Unsupported log format'));
  return errs;
}
