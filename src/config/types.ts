// KubeProxyConfiguration in two shapes, as upstream has them: the versioned file format
// (kubeproxy.config.k8s.io/v1alpha1, staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go) and the
// internal form the proxy runs with (pkg/proxy/apis/config/types.go: one syncPeriod, Linux settings
// grouped). Durations are milliseconds; `undefined` stands for Go's nil pointer.

export const GROUP = 'kubeproxy.config.k8s.io';
export const API_VERSION = `${GROUP}/v1alpha1`;
export const KIND = 'KubeProxyConfiguration';

export interface ClientConnection {
  kubeconfig: string;
  acceptContentTypes: string;
  contentType: string;
  qps: number;
  burst: number;
}

export interface VModuleItem {
  filePattern: string;
  verbosity: number;
}

export interface OutputRouting {
  splitStream: boolean;
  /** A resource.Quantity, kept as written ("0", "64Ki"). */
  infoBufferSize: string;
}

export interface LoggingConfig {
  format: string;
  flushFrequencyMs: number;
  verbosity: number;
  vmodule: VModuleItem[];
  options: { text: OutputRouting; json: OutputRouting };
}

/** The v1alpha1 file format, after decoding (absent and null fields are undefined). */
export interface V1Alpha1Config {
  apiVersion?: string;
  kind?: string;
  featureGates?: Record<string, boolean>;
  clientConnection?: Partial<ClientConnection>;
  logging?: Partial<Omit<LoggingConfig, 'options'>> & {
    options?: { text?: Partial<OutputRouting>; json?: Partial<OutputRouting> };
  };
  hostnameOverride?: string;
  bindAddress?: string;
  healthzBindAddress?: string;
  metricsBindAddress?: string;
  bindAddressHardFail?: boolean;
  enableProfiling?: boolean;
  showHiddenMetricsForVersion?: string;
  mode?: string;
  iptables?: {
    masqueradeBit?: number;
    masqueradeAll?: boolean;
    localhostNodePorts?: boolean;
    syncPeriod?: number;
    minSyncPeriod?: number;
  };
  ipvs?: {
    syncPeriod?: number;
    minSyncPeriod?: number;
    scheduler?: string;
    excludeCIDRs?: string[];
    strictARP?: boolean;
    tcpTimeout?: number;
    tcpFinTimeout?: number;
    udpTimeout?: number;
  };
  nftables?: { masqueradeBit?: number; masqueradeAll?: boolean; syncPeriod?: number; minSyncPeriod?: number };
  winkernel?: {
    networkName?: string;
    sourceVip?: string;
    enableDSR?: boolean;
    rootHnsEndpointName?: string;
    forwardHealthCheckVip?: boolean;
  };
  detectLocalMode?: string;
  detectLocal?: { bridgeInterface?: string; interfaceNamePrefix?: string };
  clusterCIDR?: string;
  nodePortAddresses?: string[];
  oomScoreAdj?: number;
  conntrack?: {
    maxPerCore?: number;
    min?: number;
    tcpEstablishedTimeout?: number;
    tcpCloseWaitTimeout?: number;
    tcpBeLiberal?: boolean;
    udpTimeout?: number;
    udpStreamTimeout?: number;
  };
  configSyncPeriod?: number;
  portRange?: string;
  windowsRunAsService?: boolean;
}

export interface ConntrackConfig {
  maxPerCore: number | undefined;
  min: number | undefined;
  tcpEstablishedTimeoutMs: number | undefined;
  tcpCloseWaitTimeoutMs: number | undefined;
  tcpBeLiberal: boolean;
  udpTimeoutMs: number;
  udpStreamTimeoutMs: number;
}

/** The internal configuration (upstream pkg/proxy/apis/config.KubeProxyConfiguration). */
export interface ProxyConfig {
  featureGates: Record<string, boolean>;
  clientConnection: ClientConnection;
  logging: LoggingConfig;
  hostnameOverride: string;
  bindAddress: string;
  healthzBindAddress: string;
  metricsBindAddress: string;
  bindAddressHardFail: boolean;
  enableProfiling: boolean;
  showHiddenMetricsForVersion: string;
  mode: string;
  iptables: { masqueradeBit: number | undefined; localhostNodePorts: boolean | undefined };
  ipvs: {
    scheduler: string;
    excludeCIDRs: string[];
    strictARP: boolean;
    tcpTimeoutMs: number;
    tcpFinTimeoutMs: number;
    udpTimeoutMs: number;
  };
  nftables: { masqueradeBit: number | undefined };
  winkernel: {
    networkName: string;
    sourceVip: string;
    enableDSR: boolean;
    rootHnsEndpointName: string;
    forwardHealthCheckVip: boolean;
  };
  detectLocalMode: string;
  detectLocal: { bridgeInterface: string; interfaceNamePrefix: string; clusterCIDRs: string[] };
  nodePortAddresses: string[];
  syncPeriodMs: number;
  minSyncPeriodMs: number;
  configSyncPeriodMs: number;
  linux: { masqueradeAll: boolean; oomScoreAdj: number | undefined; conntrack: ConntrackConfig };
  portRange: string;
  windowsRunAsService: boolean;
}
