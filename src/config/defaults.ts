// Upstream defaulting: SetDefaults_KubeProxyConfiguration on the v1alpha1 object (Go zero values
// and nil pointers get defaults) and platformApplyDefaults on the internal one.

import { isIPv4Literal } from './addresses.ts';
import type { LoggingConfig, ProxyConfig, V1Alpha1Config } from './types.ts';

export const HEALTHZ_PORT = 10256;
export const METRICS_PORT = 10249;
export const OOM_SCORE_ADJ = -999;
const SECOND = 1000;

export { appendPortIfNeeded } from './addresses.ts';

import { appendPortIfNeeded } from './addresses.ts';

/** Returns a defaulted deep copy (v1alpha1 SetDefaults_KubeProxyConfiguration + logging defaults). */
export function setDefaults(input: V1Alpha1Config): V1Alpha1Config {
  const v: V1Alpha1Config = structuredClone(input);
  if (!v.bindAddress) v.bindAddress = '0.0.0.0';
  const v4 = isIPv4Literal(v.bindAddress);
  v.healthzBindAddress = v.healthzBindAddress
    ? appendPortIfNeeded(v.healthzBindAddress, HEALTHZ_PORT)
    : `${v4 ? '0.0.0.0' : '[::]'}:${HEALTHZ_PORT}`;
  v.metricsBindAddress = v.metricsBindAddress
    ? appendPortIfNeeded(v.metricsBindAddress, METRICS_PORT)
    : `${v4 ? '127.0.0.1' : '[::1]'}:${METRICS_PORT}`;
  v.oomScoreAdj ??= OOM_SCORE_ADJ;
  v.iptables ??= {};
  const ipt = v.iptables;
  if (!ipt.syncPeriod) ipt.syncPeriod = 30 * SECOND;
  if (!ipt.minSyncPeriod) ipt.minSyncPeriod = SECOND;
  ipt.localhostNodePorts ??= true;
  ipt.masqueradeBit ??= 14;
  v.ipvs ??= {};
  const ipvs = v.ipvs;
  if (!ipvs.syncPeriod) ipvs.syncPeriod = 30 * SECOND;
  v.nftables ??= {};
  const nft = v.nftables;
  if (!nft.syncPeriod) nft.syncPeriod = 30 * SECOND;
  if (!nft.minSyncPeriod) nft.minSyncPeriod = SECOND;
  nft.masqueradeBit ??= 14;
  v.conntrack ??= {};
  const ct = v.conntrack;
  ct.maxPerCore ??= 32 * 1024;
  ct.min ??= 128 * 1024;
  ct.tcpEstablishedTimeout ??= 24 * 3600 * SECOND;
  ct.tcpCloseWaitTimeout ??= 3600 * SECOND;
  if (!v.configSyncPeriod) v.configSyncPeriod = 15 * 60 * SECOND;
  v.clientConnection ??= {};
  const cc = v.clientConnection;
  if (!cc.contentType) cc.contentType = 'application/vnd.kubernetes.protobuf';
  if (!cc.qps) cc.qps = 5;
  if (!cc.burst) cc.burst = 10;
  v.featureGates ??= {};
  v.logging = { ...v.logging };
  if (!v.logging.format) v.logging.format = 'text';
  if (!v.logging.flushFrequencyMs) v.logging.flushFrequencyMs = 5 * SECOND;
  return v;
}

function loggingOf(v: V1Alpha1Config): LoggingConfig {
  const l = v.logging ?? {};
  const routing = (o: { splitStream?: boolean; infoBufferSize?: string } | undefined) => ({
    splitStream: o?.splitStream ?? false,
    infoBufferSize: o?.infoBufferSize ?? '0',
  });
  return {
    format: l.format ?? 'text',
    flushFrequencyMs: l.flushFrequencyMs ?? 5 * SECOND,
    verbosity: l.verbosity ?? 0,
    vmodule: l.vmodule ?? [],
    options: { text: routing(l.options?.text), json: routing(l.options?.json) },
  };
}

/** v1alpha1 → internal, as upstream's Convert_v1alpha1_KubeProxyConfiguration_To_config (input defaulted). */
export function toInternal(v: V1Alpha1Config): ProxyConfig {
  const mode = v.mode ?? '';
  const section = mode === 'ipvs' ? v.ipvs : mode === 'nftables' ? v.nftables : v.iptables;
  return {
    featureGates: { ...v.featureGates },
    clientConnection: {
      kubeconfig: v.clientConnection?.kubeconfig ?? '',
      acceptContentTypes: v.clientConnection?.acceptContentTypes ?? '',
      contentType: v.clientConnection?.contentType ?? '',
      qps: v.clientConnection?.qps ?? 0,
      burst: v.clientConnection?.burst ?? 0,
    },
    logging: loggingOf(v),
    hostnameOverride: v.hostnameOverride ?? '',
    bindAddress: v.bindAddress ?? '',
    healthzBindAddress: v.healthzBindAddress ?? '',
    metricsBindAddress: v.metricsBindAddress ?? '',
    bindAddressHardFail: v.bindAddressHardFail ?? false,
    enableProfiling: v.enableProfiling ?? false,
    showHiddenMetricsForVersion: v.showHiddenMetricsForVersion ?? '',
    mode,
    iptables: {
      masqueradeBit: v.iptables?.masqueradeBit,
      localhostNodePorts: v.iptables?.localhostNodePorts,
    },
    ipvs: {
      scheduler: v.ipvs?.scheduler ?? '',
      excludeCIDRs: v.ipvs?.excludeCIDRs ?? [],
      strictARP: v.ipvs?.strictARP ?? false,
      tcpTimeoutMs: v.ipvs?.tcpTimeout ?? 0,
      tcpFinTimeoutMs: v.ipvs?.tcpFinTimeout ?? 0,
      udpTimeoutMs: v.ipvs?.udpTimeout ?? 0,
    },
    nftables: { masqueradeBit: v.nftables?.masqueradeBit },
    winkernel: {
      networkName: v.winkernel?.networkName ?? '',
      sourceVip: v.winkernel?.sourceVip ?? '',
      enableDSR: v.winkernel?.enableDSR ?? false,
      rootHnsEndpointName: v.winkernel?.rootHnsEndpointName ?? '',
      forwardHealthCheckVip: v.winkernel?.forwardHealthCheckVip ?? false,
    },
    detectLocalMode: v.detectLocalMode ?? '',
    detectLocal: {
      bridgeInterface: v.detectLocal?.bridgeInterface ?? '',
      interfaceNamePrefix: v.detectLocal?.interfaceNamePrefix ?? '',
      clusterCIDRs: v.clusterCIDR ? v.clusterCIDR.split(',') : [],
    },
    nodePortAddresses: v.nodePortAddresses ?? [],
    syncPeriodMs: section?.syncPeriod ?? 0,
    minSyncPeriodMs: section?.minSyncPeriod ?? 0,
    configSyncPeriodMs: v.configSyncPeriod ?? 0,
    linux: {
      masqueradeAll: (mode === 'nftables' ? v.nftables?.masqueradeAll : v.iptables?.masqueradeAll) ?? false,
      oomScoreAdj: v.oomScoreAdj,
      conntrack: {
        maxPerCore: v.conntrack?.maxPerCore,
        min: v.conntrack?.min,
        tcpEstablishedTimeoutMs: v.conntrack?.tcpEstablishedTimeout,
        tcpCloseWaitTimeoutMs: v.conntrack?.tcpCloseWaitTimeout,
        tcpBeLiberal: v.conntrack?.tcpBeLiberal ?? false,
        udpTimeoutMs: v.conntrack?.udpTimeout ?? 0,
        udpStreamTimeoutMs: v.conntrack?.udpStreamTimeout ?? 0,
      },
    },
    portRange: v.portRange ?? '',
    windowsRunAsService: v.windowsRunAsService ?? false,
  };
}

/** The configuration kube-proxy starts from when there is no --config: defaulted v1alpha1, converted. */
export function newDefaultConfig(): ProxyConfig {
  return toInternal(setDefaults({}));
}

/** platformApplyDefaults (server_linux.go): an empty mode means iptables, as upstream. */
export function platformApplyDefaults(c: ProxyConfig): string[] {
  const notes: string[] = [];
  if (c.mode === '') {
    notes.push('Using iptables proxy');
    c.mode = 'iptables';
  }
  if (c.mode === 'nftables' && c.nodePortAddresses.length === 0) c.nodePortAddresses = ['primary'];
  if (c.detectLocalMode === '') c.detectLocalMode = 'ClusterCIDR';
  return notes;
}
