// The /configz body: upstream registers the internal configuration, which has no JSON tags, so
// encoding/json writes Go field names ({"kubeproxy.config.k8s.io":{"BindAddress":…}}).

import { formatDuration } from '../util/duration.ts';
import { GROUP, type ProxyConfig } from './types.ts';

const dur = (ms: number | undefined) => (ms === undefined ? null : formatDuration(ms));

export function configzBody(c: ProxyConfig): Record<string, unknown> {
  const ct = c.linux.conntrack;
  const routing = (o: { splitStream: boolean; infoBufferSize: string }) => ({
    ...(o.splitStream && { splitStream: true }),
    infoBufferSize: o.infoBufferSize,
  });
  return {
    [GROUP]: {
      Linux: {
        MasqueradeAll: c.linux.masqueradeAll,
        Conntrack: {
          MaxPerCore: c.linux.conntrack.maxPerCore ?? null,
          Min: ct.min ?? null,
          TCPEstablishedTimeout: dur(ct.tcpEstablishedTimeoutMs),
          TCPCloseWaitTimeout: dur(ct.tcpCloseWaitTimeoutMs),
          TCPBeLiberal: ct.tcpBeLiberal,
          UDPTimeout: dur(ct.udpTimeoutMs),
          UDPStreamTimeout: dur(ct.udpStreamTimeoutMs),
        },
        OOMScoreAdj: c.linux.oomScoreAdj ?? null,
      },
      Windows: { RunAsService: c.windowsRunAsService },
      FeatureGates: { ...c.featureGates },
      ClientConnection: {
        Kubeconfig: c.clientConnection.kubeconfig,
        AcceptContentTypes: c.clientConnection.acceptContentTypes,
        ContentType: c.clientConnection.contentType,
        QPS: c.clientConnection.qps,
        Burst: c.clientConnection.burst,
      },
      Logging: {
        format: c.logging.format,
        flushFrequency: dur(c.logging.flushFrequencyMs),
        verbosity: c.logging.verbosity,
        options: { text: routing(c.logging.options.text), json: routing(c.logging.options.json) },
      },
      HostnameOverride: c.hostnameOverride,
      BindAddress: c.bindAddress,
      HealthzBindAddress: c.healthzBindAddress,
      MetricsBindAddress: c.metricsBindAddress,
      BindAddressHardFail: c.bindAddressHardFail,
      EnableProfiling: c.enableProfiling,
      ShowHiddenMetricsForVersion: c.showHiddenMetricsForVersion,
      Mode: c.mode,
      IPTables: {
        MasqueradeBit: c.iptables.masqueradeBit ?? null,
        LocalhostNodePorts: c.iptables.localhostNodePorts ?? null,
      },
      IPVS: {
        Scheduler: c.ipvs.scheduler,
        ExcludeCIDRs: c.ipvs.excludeCIDRs.length ? c.ipvs.excludeCIDRs : null,
        StrictARP: c.ipvs.strictARP,
        TCPTimeout: dur(c.ipvs.tcpTimeoutMs),
        TCPFinTimeout: dur(c.ipvs.tcpFinTimeoutMs),
        UDPTimeout: dur(c.ipvs.udpTimeoutMs),
      },
      NFTables: { MasqueradeBit: c.nftables.masqueradeBit ?? null },
      Winkernel: {
        NetworkName: c.winkernel.networkName,
        SourceVip: c.winkernel.sourceVip,
        EnableDSR: c.winkernel.enableDSR,
        RootHnsEndpointName: c.winkernel.rootHnsEndpointName,
        ForwardHealthCheckVip: c.winkernel.forwardHealthCheckVip,
      },
      DetectLocalMode: c.detectLocalMode,
      DetectLocal: {
        BridgeInterface: c.detectLocal.bridgeInterface,
        InterfaceNamePrefix: c.detectLocal.interfaceNamePrefix,
        ClusterCIDRs: c.detectLocal.clusterCIDRs.length ? c.detectLocal.clusterCIDRs : null,
      },
      NodePortAddresses: c.nodePortAddresses.length ? c.nodePortAddresses : null,
      SyncPeriod: dur(c.syncPeriodMs),
      MinSyncPeriod: dur(c.minSyncPeriodMs),
      ConfigSyncPeriod: dur(c.configSyncPeriodMs),
    },
  };
}
