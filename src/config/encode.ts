// --write-config-to: the internal configuration encoded as v1alpha1 YAML, as upstream's encoder
// writes it (keys sorted, Go durations, nil pointers and slices as null, the mode's section only).

import { stringify } from 'yaml';
import { formatDuration } from '../util/duration.ts';
import { API_VERSION, KIND, type ProxyConfig } from './types.ts';

const dur = (ms: number | undefined) => (ms === undefined ? null : formatDuration(ms));
const orNull = <T>(v: T | undefined) => (v === undefined ? null : v);
const sliceOrNull = (v: readonly string[]) => (v.length === 0 ? null : [...v]);

/** Convert_config_KubeProxyConfiguration_To_v1alpha1 as a JSON-like object. */
export function toV1Alpha1Object(c: ProxyConfig): Record<string, unknown> {
  const sync = (mode: string) =>
    c.mode === mode || (mode === 'iptables' && c.mode !== 'ipvs' && c.mode !== 'nftables')
      ? { syncPeriod: dur(c.syncPeriodMs), minSyncPeriod: dur(c.minSyncPeriodMs) }
      : { syncPeriod: '0s', minSyncPeriod: '0s' };
  const ct = c.linux.conntrack;
  const routing = (o: { splitStream: boolean; infoBufferSize: string }) => ({
    ...(o.splitStream && { splitStream: true }),
    infoBufferSize: o.infoBufferSize,
  });
  const out: Record<string, unknown> = {
    apiVersion: API_VERSION,
    kind: KIND,
    bindAddress: c.bindAddress,
    bindAddressHardFail: c.bindAddressHardFail,
    clientConnection: { ...c.clientConnection },
    clusterCIDR: c.detectLocal.clusterCIDRs.join(','),
    configSyncPeriod: dur(c.configSyncPeriodMs),
    conntrack: {
      maxPerCore: orNull(ct.maxPerCore),
      min: orNull(ct.min),
      tcpBeLiberal: ct.tcpBeLiberal,
      tcpCloseWaitTimeout: dur(ct.tcpCloseWaitTimeoutMs),
      tcpEstablishedTimeout: dur(ct.tcpEstablishedTimeoutMs),
      udpStreamTimeout: dur(ct.udpStreamTimeoutMs),
      udpTimeout: dur(ct.udpTimeoutMs),
    },
    detectLocal: {
      bridgeInterface: c.detectLocal.bridgeInterface,
      interfaceNamePrefix: c.detectLocal.interfaceNamePrefix,
    },
    detectLocalMode: c.detectLocalMode,
    enableProfiling: c.enableProfiling,
    healthzBindAddress: c.healthzBindAddress,
    hostnameOverride: c.hostnameOverride,
    iptables: {
      localhostNodePorts: orNull(c.iptables.localhostNodePorts),
      masqueradeAll: c.mode !== 'nftables' && c.linux.masqueradeAll,
      masqueradeBit: orNull(c.iptables.masqueradeBit),
      ...sync('iptables'),
    },
    ipvs: {
      excludeCIDRs: sliceOrNull(c.ipvs.excludeCIDRs),
      scheduler: c.ipvs.scheduler,
      strictARP: c.ipvs.strictARP,
      tcpFinTimeout: dur(c.ipvs.tcpFinTimeoutMs),
      tcpTimeout: dur(c.ipvs.tcpTimeoutMs),
      udpTimeout: dur(c.ipvs.udpTimeoutMs),
      ...sync('ipvs'),
    },
    logging: {
      flushFrequency: dur(c.logging.flushFrequencyMs),
      format: c.logging.format || undefined,
      options: { json: routing(c.logging.options.json), text: routing(c.logging.options.text) },
      verbosity: c.logging.verbosity,
      ...(c.logging.vmodule.length > 0 && { vmodule: c.logging.vmodule }),
    },
    metricsBindAddress: c.metricsBindAddress,
    mode: c.mode,
    nftables: {
      masqueradeAll: c.mode === 'nftables' && c.linux.masqueradeAll,
      masqueradeBit: orNull(c.nftables.masqueradeBit),
      ...sync('nftables'),
    },
    nodePortAddresses: sliceOrNull(c.nodePortAddresses),
    oomScoreAdj: orNull(c.linux.oomScoreAdj),
    portRange: c.portRange,
    showHiddenMetricsForVersion: c.showHiddenMetricsForVersion,
    winkernel: { ...c.winkernel },
  };
  if (Object.keys(c.featureGates).length > 0) out.featureGates = { ...c.featureGates };
  if (c.windowsRunAsService) out.windowsRunAsService = true;
  return out;
}

export function encodeConfigYAML(c: ProxyConfig): string {
  return stringify(toV1Alpha1Object(c), { sortMapEntries: true, indentSeq: false });
}
